#!/usr/bin/env python3
"""Tiny Streamable HTTP MCP upstream with a single tool `echo` (args {"text": str}).

Usage: python echo_upstream.py PORT [--json] [--stateless] [--log-level LEVEL]

Serves http://127.0.0.1:PORT/mcp using the official `mcp` Python SDK.
Works with mcp 1.x (FastMCP, e.g. in .venv-contextforge) and mcp 2.x
(MCPServer, e.g. in the repo's .venv). Defaults are the SDK defaults
(stateful sessions, SSE responses); --json / --stateless switch them.
Logging defaults to CRITICAL: clients that open and drop the optional GET SSE
stream per session (ContextForge's per-call upstream sessions do) otherwise
make the SDK print an "Error in standalone SSE writer" rich traceback each
time, which costs the upstream more CPU than the tool call itself.
"""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--json", action="store_true", help="answer application/json instead of SSE")
parser.add_argument("--stateless", action="store_true", help="no Mcp-Session-Id sessions")
parser.add_argument("--log-level", default="CRITICAL", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
args = parser.parse_args()


def echo(text: str) -> str:
    """Echo the given text back."""
    return text


try:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP
except ModuleNotFoundError:  # mcp 2.x renamed FastMCP to MCPServer
    FastMCP = None

if FastMCP is not None:
    server = FastMCP(
        "echo-upstream",
        host="127.0.0.1",
        port=args.port,
        json_response=args.json,
        stateless_http=args.stateless,
        log_level=args.log_level,
    )
    server.tool(name="echo")(echo)
    server.run(transport="streamable-http")
else:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("echo-upstream", log_level=args.log_level)
    server.tool(name="echo")(echo)
    server.run(
        transport="streamable-http",
        host="127.0.0.1",
        port=args.port,
        json_response=args.json,
        stateless_http=args.stateless,
    )
