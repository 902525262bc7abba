"""The fast CodeGen engine in four pieces: the network (model.py), the runtime choices made once at load
(plan.py), CUDA graph capture (graphs.py) and the split-KV decode attention kernel (attention_kernel.py);
engine.py loads a checkpoint into them."""
