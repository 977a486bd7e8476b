# supervise: the MCP server a bottled agent calls when it is blocked.
#
# Built by `bottle images build` from a context holding this file and the
# prebuilt `supervise` binary. It needs nothing from the base but glibc.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY supervise /usr/local/bin/supervise
ENTRYPOINT ["/usr/local/bin/supervise"]
CMD ["--help"]
