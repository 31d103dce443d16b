"""The `handbook` command, assembled from the commands each part defines beside its code."""
