"""One dynamic partition per prompt-set file; the sensor adds them, the UI can too."""

import dagster as dg

prompt_sets = dg.DynamicPartitionsDefinition(name="prompt_sets")
