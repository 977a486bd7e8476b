"""What a blocked agent does with egress-proxy's 403: build the egress-block arguments.

Reads the denial body and the current routes.yaml, applies the route the
denial suggests (replacing the route on the line it names, or appending a
new one), and prints the JSON arguments for the supervise tool.

    routes_from_denial.py DENIAL_FILE CURRENT_ROUTES JUSTIFICATION
"""

import json
import re
import sys


def suggested(denial):
    """The suggested route's lines (without the `routes:` header) and the line it replaces, if any."""
    m = re.search(r"^A route that would allow it \((.*)\):\n\n(routes:\n(?:.+\n)+)", denial, re.M)
    if m is None:
        sys.exit("the denial suggests no route:\n" + denial)
    line = re.search(r"change the route on line (\d+)", m.group(1))
    return m.group(2).splitlines()[1:], int(line.group(1)) if line else None


def apply(current, route, line):
    """`current` with the route starting on `line` (1-based) replaced by `route`, or `route` appended."""
    lines = current.splitlines()
    if line is None:
        return "\n".join(lines + route) + "\n"
    start = line - 1
    end = start + 1
    while end < len(lines) and not lines[end].startswith("- "):
        end += 1
    return "\n".join(lines[:start] + route + lines[end:]) + "\n"


def main():
    denial_file, routes_file, justification = sys.argv[1:4]
    with open(denial_file) as f:
        route, line = suggested(f.read())
    with open(routes_file) as f:
        routes = apply(f.read(), route, line)
    print(json.dumps({"routes": routes, "justification": justification}))


if __name__ == "__main__":
    main()
