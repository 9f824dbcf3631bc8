"""The models that read text: encoders that turn passages and questions into vectors (one protocol, a torch
and an ONNX Runtime backend, loaded once per process by `load.py`) and the reader that scores
(question, sentence) pairs."""
