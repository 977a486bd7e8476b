"""The baseline for bench/supervise.sh: the same read-only tool on the official Python MCP SDK.

A user without supervise would write an MCP approval server like this (the
older bottle system did). It serves `list-egress-routes`, returning the routes
file as-is (less work than supervise, which parses and re-renders it), over
stateless Streamable HTTP.

    python supervise-python-mcp.py PORT ROUTES_FILE
"""

import pathlib
import sys

from mcp.server.mcpserver import MCPServer

port = int(sys.argv[1])
routes = pathlib.Path(sys.argv[2])
server = MCPServer("supervise-python-baseline", log_level="WARNING")


@server.tool(name="list-egress-routes")
def list_egress_routes() -> str:
    """Show the current routes file."""
    return routes.read_text() if routes.exists() else "routes: []\n"


server.run("streamable-http", host="127.0.0.1", port=port, stateless_http=True)
