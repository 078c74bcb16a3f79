# node-env.sh - sourced by the scripts that run Node (tests/integration/run.sh, bench/run.sh,
# tests/soak/run.sh). Debian 12's nodejs is 18.x, where Web Crypto's globalThis.crypto exists only
# behind a flag; @azure/event-hubs 6 calls crypto.randomUUID() through it and throws
# "ReferenceError: crypto is not defined" without it (seen first by `make fresh-check`: the host had
# Node 20, the fresh machine 18). Newer Node has it by default and gets nothing added. The probe reads
# its script from stdin: `node -e` would see the crypto module as a REPL global and always pass.
if command -v node >/dev/null && ! echo 'process.exit(globalThis.crypto ? 0 : 1)' | node - 2>/dev/null; then
    export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-global-webcrypto"
fi
