# mockhub in a container: a thin wrapper over the same dependency script and make targets as a local
# run (scripts/deps.sh, make). Build and start: `docker-compose up --build`.
FROM debian:12-slim

WORKDIR /opt/mockhub
COPY . .
# run: build and broker packages only (no Node.js test clients, no docker-compose).
# `make clean` drops objects copied from the host tree.
RUN scripts/deps.sh run \
    && make clean \
    && make -j2 \
    && rm -rf /var/lib/apt/lists/*

ENV MOCKHUB_DATA_DIR=/data
VOLUME /data
# 8883: MQTT over TLS (devices); 443: HTTPS REST API and /health (service apps)
EXPOSE 8883 443

HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsk "https://localhost:${MOCKHUB_HTTPS_PORT:-443}/health" || exit 1

# mockhub blocks SIGTERM/SIGINT and sigwaits for them, so it stops cleanly as PID 1 too.
CMD ["build/mockhub", "run"]
