"""Rules over what the session already did (issue #16), end to end: `portcullis serve` with a policy directory,
the scenario tool servers over stdio, agents driven with the official `mcp` SDK.

The issue's three examples: at most three refunds per session; no `send_email` after `read_file` on a confidential
source unless a person approves; a payment only after the invoice was read. The history belongs to the agent and
the user it acts for (a new MCP session or token keeps it; another user has their own).
"""
from __future__ import annotations

import uuid

import pytest
from mcp.shared.exceptions import MCPError

from mcp_fixtures import SCENARIO_TOOLS, call_tools, run, scenario_actions, scenario_agent, scenario_config
from oauth_fixtures import TT_JWT, IdentityProvider, running_server

POLICIES = r'''
@id("everything") permit (principal, action, resource);

@id("at-most-three-refunds")
@reason("at most three refunds per session")
forbid (principal, action == Action::"call_tool", resource == Tool::"payments.refund")
when { context.session.history.counts has "payments.refund" && context.session.history.counts["payments.refund"] >= 3 };

@id("no-mail-after-confidential-files")
@reason("no mail after reading a confidential file, unless a person approves")
@obligation("approval")
permit (principal, action == Action::"call_tool", resource == Tool::"mail.send_email")
when { context.session.history.tools.contains("files.read_file") && context.session.dataClasses.contains("confidential") };

@id("payment-after-invoice")
@reason("a payment only after the invoice was read")
forbid (principal, action == Action::"call_tool", resource == Tool::"payments.send_payment")
when { !context.listing }
unless { context.session.history.tools.contains("payments.get_invoice") };

@id("approvers-decide-approvals")
permit (principal is Approver, action == Action::"approve", resource is Approval);
'''

TOOLS = {**SCENARIO_TOOLS, "files.read_file": {"effect": "read", "dataClass": "confidential"}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("history")
    (work / "policies").mkdir()
    (work / "policies" / "history.cedar").write_text(POLICIES)
    state = work / "state"
    idp = IdentityProvider(work / "idp")
    config = scenario_config(idp, state, ("mail", "files", "payments"), TOOLS, work / "policies",
                             approvals={"waitSeconds": 0, "expirySeconds": 600})
    with running_server(work, config) as server:
        yield server, state, idp


def test_at_most_three_refunds_per_session_in_any_mcp_session(world):
    server, state, idp = world
    marker = uuid.uuid4().hex[:8]
    agent, token = scenario_agent(server, idp, "alice@example.test")
    first = run(call_tools(server, token, [("payments.refund", {"invoice": f"INV-{marker}", "amount": 10})] * 2))
    assert not any(isinstance(r, MCPError) for r in first), first
    # A new MCP session and a new token of the same agent and user continue the same history.
    _, again_token = agent, agent.exchange(idp.user_token("alice@example.test"), TT_JWT,
                                           [("resource", server.base + "/mcp"), ("scope", "mcp")]).json()["access_token"]
    second = run(call_tools(server, again_token, [("payments.refund", {"invoice": f"INV-{marker}", "amount": 10})] * 2))
    assert not isinstance(second[0], MCPError), second[0]
    assert isinstance(second[1], MCPError) and "at most three refunds" in str(second[1]), second[1]
    assert len([a for a in scenario_actions(state, "payments", "refund") if a["invoice"] == f"INV-{marker}"]) == 3
    # The same agent acting for another user has its own count.
    other = agent.exchange(idp.user_token("bob@example.test"), TT_JWT, [("resource", server.base + "/mcp"), ("scope", "mcp")])
    bob = run(call_tools(server, other.json()["access_token"], [("payments.refund", {"invoice": f"INV-{marker}", "amount": 10})]))
    assert not isinstance(bob[0], MCPError), bob[0]


def test_no_mail_after_a_confidential_file_unless_approved(world):
    server, state, idp = world
    marker = uuid.uuid4().hex[:8]
    _, token = scenario_agent(server, idp, "carol@example.test")
    results = run(call_tools(server, token, [
        ("mail.send_email", {"to": "dave@company.example", "subject": f"before {marker}", "body": "hello"}),
        ("files.read_file", {"name": "budget-2026.xlsx"}),
        ("mail.send_email", {"to": "dave@company.example", "subject": f"after {marker}", "body": "hello"}),
    ]))
    assert not isinstance(results[0], MCPError) and not isinstance(results[1], MCPError)
    assert isinstance(results[2], MCPError) and results[2].code == -32005, results[2]
    assert "no mail after reading a confidential file" in str(results[2])
    sent = [a["subject"] for a in scenario_actions(state, "mail", "send_email") if marker in a["subject"]]
    assert sent == [f"before {marker}"]


def test_a_payment_only_after_the_invoice_was_read(world):
    server, state, idp = world
    marker = uuid.uuid4().hex[:8]
    _, token = scenario_agent(server, idp, "erin@example.test")
    payment = ("payments.send_payment", {"iban": "FR14 2004 1010 0505 0001 3M02 606", "amount": 480, "reference": marker})
    results = run(call_tools(server, token, [payment, ("payments.get_invoice", {"id": "INV-2026-0043"}), payment]))
    assert isinstance(results[0], MCPError) and "only after the invoice was read" in str(results[0]), results[0]
    assert not isinstance(results[1], MCPError) and not isinstance(results[2], MCPError), results
    assert [a["reference"] for a in scenario_actions(state, "payments", "send_payment") if a["reference"] == marker] == [marker]
