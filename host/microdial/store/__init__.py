"""The session folder, the system of record: format (its one definition), writer (durable, as the
recorder and the importers write it), reader (columnar, with the clock rule), importers/ (other
tools' ratings)."""
