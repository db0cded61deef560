"""fal's webhooks: the signature rules, the receiver process and the inbox it writes to.

- `signature.py`: how a delivery is signed and verified (Ed25519 over fal's message layout);
- `jwks.py`: fal's public keys, cached and refetched when a signature matches none of them;
- `delivery.py`: the delivery body;
- `rows.py` / `inbox.py`: the `generation.webhook_inbox` table and its reads and writes;
- `receiver.py` / `server.py`: `fal-platform webhooks`, the HTTP receiver.
"""
