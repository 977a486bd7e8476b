# egress-proxy: bottle's credential-injecting, default-deny MITM egress proxy.
#
# Built by `bottle images build`, whose build context holds this file and the
# prebuilt `egress-proxy` binary (cargo build on the host). Any glibc-based
# Debian-family base works; the binary must run on its glibc.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY egress-proxy /usr/local/bin/egress-proxy
ENTRYPOINT ["/usr/local/bin/egress-proxy"]
CMD ["--help"]
