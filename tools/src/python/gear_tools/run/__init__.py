"""Running a gear locally: from its pex or image, or replaying a site's job."""
