"""Provenance: PS3.15 digital signatures (:mod:`radtrust.provenance.signatures`) and content credentials."""
