# git-gate: bottle's push-scanning git mirror that holds the push keys.
#
# Built by `bottle images build` from a context holding this file and the
# prebuilt `git-gate` binary. git and the OpenSSH client are the gate's
# tools for mirroring and forwarding; it runs as root in its container
# because ssh needs a passwd entry for the running user.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/git-gate
COPY git-gate /usr/local/bin/git-gate
ENTRYPOINT ["/usr/local/bin/git-gate"]
CMD ["--help"]
