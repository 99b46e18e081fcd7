from parley.core.database import run_migrations_online

run_migrations_online()
