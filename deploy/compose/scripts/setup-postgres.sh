#!/bin/sh
# Sets up Temporal's two PostgreSQL databases, executions ($DBNAME) and SQL
# visibility ($VISIBILITY_DBNAME), with the schema tool and the schemas of
# the admin-tools image (the same version as the server). Run by the
# temporal-schema service of compose.yaml; safe to run again: an existing
# database is kept, and update-schema applies only what is missing (it is
# also how a server upgrade gets its schema changes).
#
# temporal-sql-tool reads SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and
# SQL_PASSWORD from the environment.
set -eu

# The admin-tools image keeps the schemas here; SCHEMA_DIR points elsewhere.
schemas=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

setup() {
	db=$1
	dir=$2
	echo "database $db: create, set up and update the schema"
	temporal-sql-tool --db "$db" create-database
	temporal-sql-tool --db "$db" setup-schema -v 0.0
	temporal-sql-tool --db "$db" update-schema -d "$schemas/$dir/versioned"
}

setup "${DBNAME:-temporal}" temporal
setup "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
echo "schemas ready"
