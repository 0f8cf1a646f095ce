"""The carematch service: brokers and agencies over HTTP, thin over `matcher`.

Layout: `settings` (environment), `db` (engine, sessions, migrations), `models`
(SQLAlchemy tables), `problems` (RFC 9457 errors), `guard` (bodies too large,
not JSON, or holding NUL characters, refused before routing), `security` (API keys), `deps`
(FastAPI dependencies), `agencies` (an agency's data as the engine's `MarketAgency`,
loaded and saved under a version), `events` and `webhooks` (the outbox), `idempotency`,
`jobs` (the durable job queue and the job bodies), `worker` (the job worker process),
`routes/` (one module per resource), `main` (the app), `cli` (serve, keys, import, demo).
"""
