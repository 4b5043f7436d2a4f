"""The database schema of the grant, directory and connection apps, under the label they had when they were one
app: their models declare `app_label = "provisioning"`, so no table, content type or permission moved."""
