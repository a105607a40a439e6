"""The complaint page and the dossier (HTML and PDF) built from a complaint's timeline."""
