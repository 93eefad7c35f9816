"""Export files in an S3-compatible bucket."""

from export_resend.adapters.s3.files import S3FileStore, S3FileWriter

__all__ = ["S3FileStore", "S3FileWriter"]
