B#model.encoder.layers.1.norm1.weightJ@£
º‘zå»›‘;Gè¼;úqº@`„»°²»D}9¼²ã:>1=z›ûº‹Ìó;žš¼/»¼¨úB<”†}¼