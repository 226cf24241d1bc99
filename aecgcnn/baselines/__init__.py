"""Baselines beside AE-CGCNN: GeoCGNN lives in ``aecgcnn.models``; the Moosavi-style descriptor model here."""
