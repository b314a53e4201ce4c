#!/usr/bin/env python3
"""Writes the claude-code usage corpus under projects/ (checked in; rerun after editing).

Every line below says what it tests. The expected totals are worked out by hand in
README.md and stored in expected_*.csv; usage_test (tests/unit/usage) and the lead's
end-to-end test check sqtail against them.
"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
S4 = "claude-sonnet-4-20250514"
S45 = "claude-sonnet-4-5-20250929"
O41 = "claude-opus-4-1-20250805"
H45 = "claude-haiku-4-5-20251001"
SA1 = "aaaaaaaa-0000-4000-8000-000000000001"
SA2 = "aaaaaaaa-0000-4000-8000-000000000002"
SB1 = "bbbbbbbb-0000-4000-8000-000000000001"


def usage(inp, out, cc=None, cr=None, **extra):
    u = {"input_tokens": inp, "output_tokens": out}
    if cc is not None:
        u["cache_creation_input_tokens"] = cc
    if cr is not None:
        u["cache_read_input_tokens"] = cr
    u.update(extra)
    return u


def assistant(session, ts, msg_id, model, u, request_id=None, sidechain=False, **extra):
    message = {"model": model, "type": "message", "role": "assistant",
               "content": [{"type": "text", "text": "ok"}], "stop_reason": None, "usage": u}
    if msg_id is not None:
        message = {"id": msg_id, **message}
    rec = {"parentUuid": None, "isSidechain": sidechain, "userType": "external",
           "cwd": "/home/dev", "sessionId": session, "version": "2.0.31", "type": "assistant",
           "message": message}
    if request_id is not None:
        rec["requestId"] = request_id
    rec["uuid"] = f"u-{msg_id}-{ts}"
    rec["timestamp"] = ts
    rec.update(extra)
    return json.dumps(rec, separators=(",", ":"))


def user(session, ts, text):
    return json.dumps({"parentUuid": None, "isSidechain": False, "sessionId": session,
                       "version": "2.0.31", "type": "user",
                       "message": {"role": "user", "content": text},
                       "uuid": f"u-user-{ts}", "timestamp": ts}, separators=(",", ":"))


def progress(session, outer_ts, inner_ts, msg_id, request_id, model, u):
    inner = {"type": "assistant", "timestamp": inner_ts,
             "message": {"model": model, "id": msg_id, "type": "message", "role": "assistant",
                         "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read",
                                      "input": {}}], "usage": u},
             "requestId": request_id, "uuid": f"inner-{msg_id}"}
    return json.dumps({"parentUuid": None, "isSidechain": False, "userType": "external",
                       "cwd": "/home/dev", "sessionId": session, "version": "2.0.31",
                       "type": "progress",
                       "data": {"message": inner, "type": "agent_progress", "agentId": "x1"},
                       "toolUseID": "toolu_0", "parentToolUseID": "toolu_0",
                       "uuid": f"p-{msg_id}", "timestamp": outer_ts}, separators=(",", ":"))


def write(rel, lines, trailing_newline=True):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + ("\n" if trailing_newline else ""))


# Project alpha, session 1 (read first: discovery sorts paths, '.' < '/').
write(f"-home-dev-alpha/{SA1}.jsonl", [
    user(SA1, "2026-01-10T09:00:00.000Z", "hi"),                                    # no usage
    # A1: counted on 01-10; copied again by the resumed session 2.
    assistant(SA1, "2026-01-10T09:00:05.000Z", "msg_A1", S4, usage(100, 20, 1000, 0), "req_A1"),
    # A2: a streaming message written three times with growing output_tokens; the last and
    # largest copy is stamped after midnight UTC, so A2 counts on 01-11 (10/120/0/2000).
    assistant(SA1, "2026-01-10T23:59:59.500Z", "msg_A2", S4, usage(10, 5, 0, 2000), "req_A2"),
    assistant(SA1, "2026-01-10T23:59:59.900Z", "msg_A2", S4, usage(10, 50, 0, 2000), "req_A2"),
    assistant(SA1, "2026-01-11T00:00:01.000Z", "msg_A2", S4, usage(10, 120, 0, 2000), "req_A2"),
    # A3: a subagent's message relayed as a progress line (main thread, total 840). Its
    # sidechain copy in the subagent file is larger (845) but loses: non-sidechain wins.
    progress(SA1, "2026-01-10T10:00:00.100Z", "2026-01-10T10:00:00.000Z", "msg_A3", "req_A3",
             H45, usage(300, 40, 0, 500)),
    json.dumps({"type": "system", "subtype": "compact_boundary", "content": "Conversation compacted",
                "level": "info", "sessionId": SA1, "timestamp": "2026-01-10T10:30:00.000Z"},
               separators=(",", ":")),                                               # no usage
])

# Project alpha, session 1's subagent: attributed to session 1.
write(f"-home-dev-alpha/{SA1}/subagents/agent-x1.jsonl", [
    assistant(SA1, "2026-01-10T10:00:00.050Z", "msg_A3", H45, usage(300, 45, 0, 500), "req_A3",
              sidechain=True),
    # A4: only in the subagent file: counted (sidechain or not).
    assistant(SA1, "2026-01-10T10:01:00.000Z", "msg_A4", H45, usage(50, 10), "req_A4",
              sidechain=True),
])

# Project alpha, session 2: a resumed session 1, starting with copies of old records.
write(f"-home-dev-alpha/{SA2}.jsonl", [
    assistant(SA2, "2026-01-10T09:00:05.000Z", "msg_A1", S4, usage(100, 20, 1000, 0), "req_A1"),
    assistant(SA2, "2026-01-11T00:00:01.000Z", "msg_A2", S4, usage(10, 120, 0, 2000), "req_A2"),
    # A5: cache writes split by lifetime: 3000 at the 5-minute rate, 2000 at the 1-hour rate
    # (cache_creation_input_tokens is ignored when the split is there).
    assistant(SA2, "2026-01-11T08:00:00.000Z", "msg_A5", S45,
              usage(2000, 300, 5000, 10000,
                    cache_creation={"ephemeral_5m_input_tokens": 3000,
                                    "ephemeral_1h_input_tokens": 2000}), "req_A5"),
    # A6: fast mode: its own model row "...-fast".
    assistant(SA2, "2026-01-11T08:05:00.000Z", "msg_A6", S45, usage(100, 100, speed="fast"),
              "req_A6"),
    "this is not json",                                                               # reject
    # A7: an id without requestId dedups by (id, sessionId, timestamp): the second line is the
    # same entry, the third (one second later) another one. 2 x (10, 10).
    assistant(SA2, "2026-01-11T09:00:00.000Z", "msg_A7", S45, usage(10, 10)),
    assistant(SA2, "2026-01-11T09:00:00.000Z", "msg_A7", S45, usage(10, 10)),
    assistant(SA2, "2026-01-11T09:00:01.000Z", "msg_A7", S45, usage(10, 10)),
])

# Project beta, session 1.
write(f"-home-dev-beta/{SB1}.jsonl", [
    # B1: logs its own costUSD: auto mode uses 0.5, calculate mode 0.0525.
    assistant(SB1, "2026-01-10T12:00:00.000Z", "msg_B1", O41, usage(1000, 500, 0, 0), "req_B1",
              costUSD=0.5),
    # B2: an API error: <synthetic> model, in the totals (7 + 3) but in no model row.
    assistant(SB1, "2026-01-10T12:01:00.000Z", "msg_B2", "<synthetic>", usage(7, 3),
              isApiErrorMessage=True),
    # B6: a model missing from the pricing table: a row, cost 0.
    assistant(SB1, "2026-01-10T13:00:00.000Z", "msg_B6", "claude-future-9", usage(100, 100),
              "req_B6"),
    # B3: every category beyond 200k: the excess at the long-context rates ($1.86). 20:00Z is
    # 05:00 on 01-12 in Asia/Tokyo.
    assistant(SB1, "2026-01-11T20:00:00.000Z", "msg_B3", S4,
              usage(250000, 1000, 210000, 300000), "req_B3"),
    # No message.id: never deduplicated, so both identical lines count. "claude-opus-4-5" is
    # priced as claude-opus-4-5-20251101 (substring match).
    assistant(SB1, "2026-01-11T21:00:00.000Z", None, "claude-opus-4-5", usage(100, 50), "req_B7"),
    assistant(SB1, "2026-01-11T21:00:00.000Z", None, "claude-opus-4-5", usage(100, 50), "req_B7"),
    user(SB1, "2026-01-11T21:01:00.000Z", [{"type": "tool_result", "content": "x" * 50}]),
    # No timestamp: not an entry (ccusage skips it too).
    json.dumps({"type": "assistant", "sessionId": SB1, "requestId": "req_B8",
                "message": {"id": "msg_B8", "model": S4, "usage": usage(5000, 5000)}},
               separators=(",", ":")),
    # The last line is cut off (no newline): never shipped.
    assistant(SB1, "2026-01-11T22:00:00.000Z", "msg_B9", S4, usage(9999, 9999), "req_B9")[:90],
], trailing_newline=False)
