"""The signed model artifact: writing it, ONNX export, Ed25519 signing and S3 publishing."""
