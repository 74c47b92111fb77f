# syntax=docker/dockerfile:1
# azure-cortex: the web UI, API, workers and CLI in one image.
#   docker build -t azure-cortex .
#   docker run --rm -p 8080:8080 azure-cortex serve --sandbox --listen 0.0.0.0:8080
# The runtime image carries terraform (Azure-side onboarding runs it) and runs as an unprivileged
# user; state lives in the /var/lib/azure-cortex volume. docs/operations.md covers replicas.

ARG RUST_VERSION=1.95
ARG TERRAFORM_VERSION=1.11.4

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The commit for `--version` comes from .git when it is in the build context; otherwise pass
# SOURCE_DATE_EPOCH and accept `commit unknown`.
RUN cargo build --release --locked -p azure-cortex \
    && install -m 0755 target/release/azure-cortex /usr/local/bin/azure-cortex

FROM hashicorp/terraform:${TERRAFORM_VERSION} AS terraform

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to Prisma Cloud, Cortex Cloud, Azure and the Terraform registry.
# git: terraform fetches modules with it.
# curl: the sandbox's Cortex Cloud template twin calls the emulator back with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cortex \
    && useradd --system --uid 10001 --gid cortex --home-dir /var/lib/azure-cortex --shell /usr/sbin/nologin cortex \
    && install -d -o cortex -g cortex -m 0700 /var/lib/azure-cortex /var/cache/terraform-plugins
COPY --from=terraform /bin/terraform /usr/local/bin/terraform
COPY --from=build /usr/local/bin/azure-cortex /usr/local/bin/azure-cortex
ENV AZURE_CORTEX_DATA_DIR=/var/lib/azure-cortex \
    TF_PLUGIN_CACHE_DIR=/var/cache/terraform-plugins \
    NO_COLOR=1
USER 10001:10001
WORKDIR /var/lib/azure-cortex
VOLUME ["/var/lib/azure-cortex"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/azure-cortex"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
