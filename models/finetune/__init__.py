"""Site adaptation: fine-tune a SAM 2 bundle's source weights on a site's own annotations
(driven by `cineseg finetune`, engine/src/adapt/)."""
