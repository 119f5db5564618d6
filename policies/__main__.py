"""novalab's CrossGuard policy pack: the rules live in novalab_rules.py (pure checks + validators)."""

from pulumi_policy import PolicyPack

from novalab_rules import POLICIES

PolicyPack(name="novalab", policies=POLICIES)
