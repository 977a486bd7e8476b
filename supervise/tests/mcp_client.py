"""Drive a supervise server with the official Python MCP SDK over Streamable HTTP.

Prints one JSON object per line on stdout: {"progress": ...} for each progress
notification as it arrives, then {"result": ...} (or {"error": ...}). Progress
lines and call results carry "elapsed", the seconds since the call was sent by
the client's clock. The Rust tests read these lines, so the client stays
independent of the server's code.

    mcp_client.py URL [--mode legacy|auto] list-tools
    mcp_client.py URL [--mode legacy|auto] call TOOL [--progress] < JSON_ARGS
    mcp_client.py URL [--mode legacy|auto] batch < [{"tool": ..., "arguments": ...}, ...]
"""

import argparse
import asyncio
import json
import sys
import time

from mcp import Client


def emit(obj):
    print(json.dumps(obj), flush=True)


async def run(args):
    async with Client(args.url, mode=args.mode) as client:
        if args.command == "list-tools":
            listing = await client.list_tools()
            return [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                    "output_schema": tool.output_schema,
                }
                for tool in listing.tools
            ]

        if args.command == "batch":
            calls = json.loads(sys.stdin.read())
            return [await call(client, c["tool"], c["arguments"], False) for c in calls]
        return await call(client, args.tool, json.loads(sys.stdin.read()), args.progress)


async def call(client, tool, arguments, want_progress):
    started = time.monotonic()

    async def on_progress(progress, total, message):
        elapsed = time.monotonic() - started
        emit({"progress": progress, "total": total, "message": message, "elapsed": elapsed})

    callback = on_progress if want_progress else None
    result = await client.call_tool(tool, arguments, progress_callback=callback)
    return {
        "is_error": result.is_error,
        "structured": result.structured_content,
        "text": "\n".join(c.text for c in result.content if c.type == "text"),
        "elapsed": time.monotonic() - started,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--mode", default="legacy")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list-tools")
    call = sub.add_parser("call")
    call.add_argument("tool")
    call.add_argument("--progress", action="store_true")
    sub.add_parser("batch")
    args = parser.parse_args()
    try:
        emit({"result": asyncio.run(run(args))})
    except Exception as e:  # the test prints this; the exit code says it failed
        emit({"error": describe(e)})
        sys.exit(1)


def describe(e):
    """The exception and, for exception groups (anyio task groups), every exception inside."""
    text = f"{type(e).__name__}: {e}"
    for inner in getattr(e, "exceptions", ()):
        text += f" [{describe(inner)}]"
    return text


if __name__ == "__main__":
    main()
