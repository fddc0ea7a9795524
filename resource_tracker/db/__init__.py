"""The database side: compute_nodes and services, on SQLite or MySQL/MariaDB."""
