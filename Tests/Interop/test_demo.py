"""`portcullis serve --demo` (issue #15, the newcomer path): with nothing but the binary, the log gives the console's
address and a one-time sign-in link, and within a minute the demo agent's calls show an allowed, a denied and a
pending decision, in the audit log and on the console's decisions page (fetched with the session the link opened).
"""

from __future__ import annotations

import re
import time

import requests

from oauth_fixtures import Server


class DemoServer(Server):
    def command(self) -> list[str]:
        return super().command() + ["--demo"]


def test_demo_shows_allowed_denied_and_pending_calls(tmp_path):
    server = DemoServer(tmp_path).start()
    try:
        link = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and link is None:
            m = re.search(r"one-time sign-in link: (http://\S+?/console/signin\?code=[A-Za-z0-9_.-]+)", server.log_tail(100_000))
            link = m.group(1) if m else None
            time.sleep(0.2)
        assert link, server.log_tail()

        seen: dict[str, str] = {}
        deadline = time.monotonic() + 75
        while time.monotonic() < deadline and len(seen) < 3:
            entries = server.admin("GET", "/admin/audit/entries?kind=decision&limit=200").json()
            for e in entries:
                ev = e["event"]
                if ev.get("resource", "").startswith("demo.") and ev.get("decision"):
                    seen.setdefault(ev["decision"], ev["resource"])
            time.sleep(1)
        assert set(seen) == {"allow", "deny", "pending"}, (seen, server.log_tail())
        assert seen["allow"] in ("demo.search_docs", "demo.read_ticket")

        # The link opens a console session (once), whose decisions page lists the demo agent's calls.
        browser = requests.Session()
        r = browser.get(link, allow_redirects=False, timeout=10)
        assert r.status_code == 200 and 'id="use-link"' in r.text and "operator" in r.text, r.text
        code = link.split("code=", 1)[1]
        signin = lambda: browser.post(server.base + "/console/signin", data={"code": code},  # noqa: E731
                                      headers={"Origin": server.base}, allow_redirects=False, timeout=10)
        r = signin()
        assert r.status_code == 303 and r.headers["Location"] == "/console/overview", r.text
        page = browser.get(server.base + "/console/decisions", timeout=10).text
        for decision in ("allow", "deny", "pending"):
            assert f'class="{decision}">{decision}<' in page, decision
        assert "demo.delete_project" in page
        assert signin().status_code == 403
    finally:
        code = server.stop()
    assert code == 0, server.log_tail()
