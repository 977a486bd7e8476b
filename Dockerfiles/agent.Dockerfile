# The example agent image: Debian with the tools an agent commonly needs and
# a non-root user. `bottle images build` passes your user id as AGENT_UID so
# the agent's files in the bottle's state directory stay yours.
#
# Claude Code is not installed here (it needs npm). To add it, extend this
# image, for example:
#   FROM bottle-agent:latest
#   USER root
#   RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
#    && npm install -g @anthropic-ai/claude-code && rm -rf /var/lib/apt/lists/*
#   USER agent
# and name it in the bottle (`image:` or `dockerfile:`).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG AGENT_UID=1000
ARG AGENT_GID=1000
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates curl git python3 procps less \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --non-unique -g "${AGENT_GID}" agent \
 && useradd --non-unique -m -u "${AGENT_UID}" -g "${AGENT_GID}" -s /bin/bash agent
USER agent
WORKDIR /home/agent
