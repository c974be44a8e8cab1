"""Ground floor: settings, connections, the embedded Redis supervisor, SQL schema, auth."""
