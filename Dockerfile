# syntax=docker/dockerfile:1
# Build stage: compile the release binary.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so code edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked || true
COPY migrations migrations
COPY benches benches
COPY src src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin tidings

# Runtime stage: a slim image with the binary, config, templates and sample content.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tidings
WORKDIR /app
COPY --from=build /src/target/release/tidings /usr/local/bin/tidings
COPY config config
COPY content content
RUN mkdir -p data && chown -R tidings:tidings /app/data
USER tidings
ENV TIDINGS_SERVER__BIND=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/app/data"]
ENTRYPOINT ["/usr/local/bin/tidings"]
CMD ["serve"]
