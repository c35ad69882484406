#!/bin/sh
# Runs once, on the first start of an empty data volume (docker-entrypoint-initdb.d).
# Per service database two login roles, neither a superuser:
#   <db>_owner  owns the database and its schema: the service runs its migrations with it (DATABASE_MIGRATION_URL);
#   <db>_app    the runtime role the service serves with (DATABASE_URL): it owns nothing, so it can never ALTER,
#               DROP, TRUNCATE or disable a trigger; its table privileges are granted by the service's own start
#               (Bucket's chain: SELECT and INSERT only).
# Passwords come from PANCHA_DB_OWNER_PASSWORD and PANCHA_DB_PASSWORD (see docker-compose.yml).
set -e

for db in karma bucket core executor; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v db="$db" -v owner="${db}_owner" -v app="${db}_app" \
    -v owner_pw="$PANCHA_DB_OWNER_PASSWORD" -v app_pw="$PANCHA_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_pw';
CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
SQL
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db" -v owner="${db}_owner" <<'SQL'
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
done
