#!/usr/bin/env python3
# ruff: noqa: UP031
"""Generate an nginx.conf for a mock OpenAI-compatible upstream (nginx + echo module).

The mock answers POST {prefix}/v1/chat/completions on 127.0.0.1 only:
  * non-streaming: a realistic `chat.completion` JSON object;
  * streaming (request body contains "stream": true): `text/event-stream` with
    N `data: {chat.completion.chunk}` events (role chunk, content chunks, a
    finish_reason chunk, a usage chunk) and a final `data: [DONE]`.

Stream detection is done in nginx itself: `echo_read_request_body` reads the
body, then `echo_exec` jumps to an internal location chosen by a `map` on
$request_body.  Forced variants that ignore the body also exist:
  /json/v1/chat/completions   always non-streaming
  /stream/v1/chat/completions always streaming

One `server` block per upstream delay: port base+i sleeps delays_ms[i] ms
(echo_sleep) before the first byte.  Optional gap between stream chunks.

Besides the OpenAI route, the same servers answer the two other wire formats Bastion's
adapters speak upstream (added for Bastion; same reply text, same delays):
  POST {prefix}/v1/messages                        Anthropic Messages: a `message` JSON, or with
      "stream": true in the body the named-event SSE sequence message_start,
      content_block_start, N content_block_delta (text_delta), content_block_stop,
      message_delta (stop_reason + usage), message_stop;
  POST /v1beta/models/<any>:generateContent        Gemini: a GenerateContentResponse JSON;
  POST /v1beta/models/<any>:streamGenerateContent  Gemini SSE (alt=sse): `data:` chunks of
      GenerateContentResponse, CRLF-terminated like the real API; the last chunk carries
      finishReason and usageMetadata.

Only the standard library is used.  The generated file carries absolute paths
of the run directory (pid, temp dirs, error log), so it is written at run time
into a scratch directory, never into the repository.
"""

import argparse
import json
import os
import sys

# Deterministic, realistic-looking assistant reply, split into stream pieces.
REPLY_PIECES = [
    "Sure",
    "!",
    " Here",
    " is",
    " a",
    " concise",
    " summary",
    " of",
    " the",
    " text",
    " you",
    " provided",
    ",",
    " focusing",
    " on",
    " the",
    " key",
    " points",
    ".",
]
PROMPT_TOKENS = 214  # roughly what the load generator's prompt is worth
CREATED = 1732700000
MODEL = "gpt-4o-mini-2024-07-18"
FINGERPRINT = "fp_0aa8d3e20b"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
GEMINI_MODEL = "gemini-2.5-flash"

DEFAULT_ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


def nginx_quote(s):
    """Single-quote a string for nginx.conf; the echo module would expand `$`."""
    if "$" in s.replace("$request_id", ""):
        raise ValueError("unexpected '$' in mock payload")
    s = s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + s + "'"


def usage_obj(completion_tokens):
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": PROMPT_TOKENS + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_json(pieces):
    # "$request_id" is expanded by nginx to 32 hex chars: a unique id per response.
    obj = {
        "id": "chatcmpl-$request_id",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(pieces),
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage_obj(len(pieces)),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    return json.dumps(obj, separators=(",", ":"))


def stream_events(pieces):
    base = {
        "id": "chatcmpl-$request_id",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta, finish=None, usage=None, choices=True):
        o = dict(base)
        o["choices"] = (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        )
        o["usage"] = usage
        return "data: " + json.dumps(o, separators=(",", ":")) + "\n\n"

    ev = [chunk({"role": "assistant", "content": "", "refusal": None})]
    ev += [chunk({"content": p}) for p in pieces]
    ev.append(chunk({}, finish="stop"))
    ev.append(chunk(None, usage=usage_obj(len(pieces)), choices=False))
    ev.append("data: [DONE]\n\n")
    return ev


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def anthropic_usage(output_tokens):
    # the fields of anthropic.types.Usage as the API sends them today
    return {
        "input_tokens": PROMPT_TOKENS,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def anthropic_message(pieces):
    """A non-streaming Messages API answer (anthropic.types.Message)."""
    return _dumps(
        {
            "id": "msg_$request_id",
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": "".join(pieces)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": anthropic_usage(len(pieces)),
        }
    )


def anthropic_stream_events(pieces):
    """The named SSE events of a streamed Messages answer (anthropic.types.RawMessageStreamEvent)."""

    def ev(name, data):
        return "event: %s\ndata: %s\n\n" % (name, _dumps(data))

    start_usage = anthropic_usage(1)
    out = [
        ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_$request_id",
                    "type": "message",
                    "role": "assistant",
                    "model": ANTHROPIC_MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    out += [
        ev(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {
                    "input_tokens": PROMPT_TOKENS,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": len(pieces),
                },
            },
        )
    )
    out.append(ev("message_stop", {"type": "message_stop"}))
    return out


def gemini_usage(candidates_tokens):
    # google.genai.types.GenerateContentResponseUsageMetadata, camelCase as on the wire
    return {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": PROMPT_TOKENS + candidates_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
    }


def gemini_response(texts, finish, usage):
    cand = {"content": {"parts": [{"text": t} for t in texts], "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = "STOP"
    obj = {"candidates": [cand]}
    if usage is not None:
        obj["usageMetadata"] = usage
    obj["modelVersion"] = GEMINI_MODEL
    obj["responseId"] = "$request_id"
    return _dumps(obj)


def gemini_json(pieces):
    """A non-streaming generateContent answer (google.genai.types.GenerateContentResponse)."""
    return gemini_response(["".join(pieces)], True, gemini_usage(len(pieces)))


def gemini_stream_events(pieces):
    """streamGenerateContent?alt=sse: one chunk per piece; the last one finishes and has usageMetadata."""
    last = len(pieces) - 1
    return [
        "data: %s\r\n\r\n" % gemini_response([p], i == last, gemini_usage(len(pieces)) if i == last else None)
        for i, p in enumerate(pieces)
    ]


def split_pieces(n_events):
    """Return reply pieces so that the stream has n_events data events (incl. [DONE])."""
    n_content = max(1, n_events - 4)  # role, finish, usage, [DONE]
    words = REPLY_PIECES
    if n_content <= len(words):
        # merge neighbours to get exactly n_content pieces
        out = [""] * n_content
        for i, w in enumerate(words):
            out[i * n_content // len(words)] += w
        return out
    return [words[i % len(words)] for i in range(n_content)]


def build(args):
    pieces = split_pieces(args.stream_events)
    body_json = completion_json(pieces)
    events = stream_events(pieces)
    anth_json = anthropic_message(pieces)
    anth_events = anthropic_stream_events(pieces)
    gem_json = gemini_json(pieces)
    gem_events = gemini_stream_events(pieces)
    gap = args.chunk_gap_ms / 1000.0
    run = os.path.abspath(args.run_dir)

    L = []
    a = L.append
    a("# generated by bench/mock/gen_nginx_conf.py -- do not edit")
    a("load_module %s;" % args.echo_module)
    a("worker_processes 1;")
    a("worker_rlimit_nofile 16384;")
    a("pid %s/nginx.pid;" % run)
    a("error_log %s/nginx-error.log warn;" % run)
    a("events { worker_connections 8192; multi_accept on; }")
    a("http {")
    a("  access_log off;")
    a("  server_tokens off;")
    a("  tcp_nodelay on;")
    a("  keepalive_requests 10000000;")
    a("  keepalive_timeout 600s;")
    a("  client_max_body_size 8m;")
    a("  client_body_buffer_size 1m;")
    a("  client_body_in_single_buffer on;")
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        a("  %s_temp_path %s/tmp_%s;" % (d, run, d))
    # `"stream": true` / `"stream":true` in the JSON body -> streaming.
    # (\x22 is '"'; nginx quoting of map regexes is unreliable, keep it unquoted)
    a("  map $request_body $mock_mode {")
    a("    ~\\x22stream\\x22\\s*:\\s*true  stream;")
    a("    default json;")
    a("  }")
    for i, delay in enumerate(args.delays_ms):
        port = args.base_port + i
        a("  server {")
        a("    listen 127.0.0.1:%d backlog=4096;" % port)
        a("    # upstream delay before first byte: %d ms" % delay)
        a("    location = /v1/chat/completions {")
        a("      echo_read_request_body;")
        a("      echo_exec /_mock/$mock_mode;")
        a("    }")
        a("    location = /json/v1/chat/completions {")
        a("      echo_read_request_body;")
        a("      echo_exec /_mock/json;")
        a("    }")
        a("    location = /stream/v1/chat/completions {")
        a("      echo_read_request_body;")
        a("      echo_exec /_mock/stream;")
        a("    }")
        a("    location = /_mock/json {")
        a("      internal;")
        a("      default_type application/json;")
        a("      add_header x-request-id $request_id always;")
        a("      add_header openai-processing-ms %d always;" % delay)
        a("      add_header openai-version 2020-10-01 always;")
        if delay > 0:
            a("      echo_sleep %.3f;" % (delay / 1000.0))
        a("      echo -n %s;" % nginx_quote(body_json))
        a("    }")
        a("    location = /_mock/stream {")
        a("      internal;")
        a("      default_type text/event-stream;")
        a("      add_header x-request-id $request_id always;")
        a("      add_header openai-processing-ms %d always;" % delay)
        a("      add_header openai-version 2020-10-01 always;")
        a("      add_header cache-control no-cache always;")
        if delay > 0:
            a("      echo_sleep %.3f;" % (delay / 1000.0))
        for j, ev in enumerate(events):
            if j > 0 and gap > 0:
                a("      echo_sleep %.3f;" % gap)
            a("      echo -n %s;" % nginx_quote(ev))
            a("      echo_flush;")
        a("    }")
        # Anthropic Messages: body decides JSON vs SSE, like the OpenAI route
        a("    location = /v1/messages {")
        a("      echo_read_request_body;")
        a("      echo_exec /_mock/anthropic_$mock_mode;")
        a("    }")
        for forced in ("json", "stream"):
            a("    location = /%s/v1/messages {" % forced)
            a("      echo_read_request_body;")
            a("      echo_exec /_mock/anthropic_%s;" % forced)
            a("    }")
        # Gemini: the method in the path decides (?alt=sse is not needed to match)
        a("    location ~ ^/v1beta/models/[^/]+:generateContent$ {")
        a("      echo_read_request_body;")
        a("      echo_exec /_mock/gemini_json;")
        a("    }")
        a("    location ~ ^/v1beta/models/[^/]+:streamGenerateContent$ {")
        a("      echo_read_request_body;")
        a("      echo_exec /_mock/gemini_stream;")
        a("    }")
        extra = {
            "anthropic": ("add_header request-id req_$request_id always;",),
            "gemini": ("add_header x-gemini-service-tier standard always;",),
        }
        for name, payload, evs in (
            ("anthropic", anth_json, anth_events),
            ("gemini", gem_json, gem_events),
        ):
            a("    location = /_mock/%s_json {" % name)
            a("      internal;")
            a("      default_type application/json;")
            for h in extra[name]:
                a("      " + h)
            if delay > 0:
                a("      echo_sleep %.3f;" % (delay / 1000.0))
            a("      echo -n %s;" % nginx_quote(payload))
            a("    }")
            a("    location = /_mock/%s_stream {" % name)
            a("      internal;")
            a("      default_type text/event-stream;")
            for h in extra[name]:
                a("      " + h)
            a("      add_header cache-control no-cache always;")
            if delay > 0:
                a("      echo_sleep %.3f;" % (delay / 1000.0))
            for j, ev in enumerate(evs):
                if j > 0 and gap > 0:
                    a("      echo_sleep %.3f;" % gap)
                a("      echo -n %s;" % nginx_quote(ev))
                a("      echo_flush;")
            a("    }")
        a("    location = /v1/models {")
        a("      default_type application/json;")
        models = {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "system"}],
        }
        a("      return 200 '%s';" % _dumps(models))
        a("    }")
        a("    location = /health { default_type text/plain; return 200 'ok'; }")
        unknown = {"error": {"message": "mock: unknown path", "type": "invalid_request_error"}}
        a("    location / { default_type application/json; return 404 '%s'; }" % _dumps(unknown))
        a("  }")
    a("}")
    return "\n".join(L) + "\n", pieces, events


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run-dir", required=True, help="scratch dir for pid/log/temp files")
    p.add_argument("--out", help="where to write nginx.conf (default RUN_DIR/nginx.conf)")
    p.add_argument("--base-port", type=int, default=18080)
    p.add_argument(
        "--delays-ms", default="0,300", help="comma list; port base+i delays the first byte by delays[i] ms"
    )
    p.add_argument(
        "--stream-events",
        type=int,
        default=21,
        help="data: events per stream incl. the final [DONE] (default 21 = 20 chunks + [DONE])",
    )
    p.add_argument("--chunk-gap-ms", type=float, default=0.0, help="sleep between stream chunks (0 = none)")
    p.add_argument("--echo-module", default=os.environ.get("BENCH_ECHO_MODULE", DEFAULT_ECHO_MODULE))
    p.add_argument(
        "--print-expected", action="store_true", help="print the expected assistant content and exit"
    )
    args = p.parse_args(argv)
    args.delays_ms = [int(x) for x in str(args.delays_ms).split(",") if x.strip()]
    conf, pieces, _events = build(args)
    if args.print_expected:
        print("".join(pieces))
        return 0
    os.makedirs(args.run_dir, exist_ok=True)
    out = args.out or os.path.join(args.run_dir, "nginx.conf")
    with open(out, "w") as f:
        f.write(conf)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
