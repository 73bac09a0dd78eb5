"""DIFFA and DIFFA-2: Whisper encoder + acoustic/semantic adapters + a LLaDA masked-diffusion backbone."""
