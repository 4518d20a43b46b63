"""A stdio MCP server that misbehaves on request, for the gateway's failure tests.

Tools: `ok` answers, `crash` kills the process mid-call, `hang` never answers.
"""

import os
import time

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("crashy")
READ = ToolAnnotations(readOnlyHint=True)


@server.tool(annotations=READ)
def ok() -> str:
    """Answer at once."""
    return f"ok from pid {os.getpid()}"


@server.tool(annotations=READ)
def crash() -> str:
    """Exit without answering."""
    os._exit(3)


@server.tool(annotations=READ)
def hang() -> str:
    """Never answer."""
    time.sleep(3600)
    return "late"


server.run(transport="stdio")
