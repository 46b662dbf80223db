"""The ReMixer steps (distilabel Steps/Tasks/GlobalSteps), one concept per module."""
