"""Lifecycle stages of a contact, as HubSpot names them (so an import or a salesperson's habit
maps one to one); "" is "not set"."""

from __future__ import annotations

LIFECYCLE_STAGES = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketing_qualified_lead": "Marketing qualified lead",
    "sales_qualified_lead": "Sales qualified lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}
