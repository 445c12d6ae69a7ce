"""What runs gitconnect outside AWS (the local stack) and deploy/ops helpers."""
