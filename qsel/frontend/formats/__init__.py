"""Model file formats: each converts between a file and a :class:`qsel.frontend.network.Network`."""
