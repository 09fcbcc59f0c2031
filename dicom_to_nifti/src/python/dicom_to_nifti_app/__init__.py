"""DICOM to NIfTI (dcm2niix): text statistics of an input file."""
