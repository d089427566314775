"""Medical images and radiology reports: loaders, de-identification and features for monitoring."""
