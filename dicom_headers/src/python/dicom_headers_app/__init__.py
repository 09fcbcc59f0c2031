"""DICOM headers.

Writes a DICOM file's header as JSON, with pydicom 2 (a gear pinned to its own resolve).
"""
