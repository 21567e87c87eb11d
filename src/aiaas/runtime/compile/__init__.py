"""Compiled forms of registered models (ONNX exports, int8 builds), made once per artifact digest
and cached beside the artifact store; each is verified against the original framework before use.
"""
