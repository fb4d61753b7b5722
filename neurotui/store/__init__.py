"""Activation stores: our HDF5 layout and NeuroX hdf5/json, behind one read API.

``neurotui.store.open(path)`` detects the format from the file's content and returns a
:class:`neurotui.store.api.Store`. This package imports numpy and h5py only.
"""
