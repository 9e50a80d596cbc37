// The organization switcher: the user's organizations (GET /orgs), the active one kept per tab.

import * as api from "./api.js";
import { announce, fill, h } from "./dom.js";

const MANAGERS = new Set(["owner", "admin"]);

export class OrgSwitcher {
  /** select: the <select>; onChange(org) after the user picks another organization. */
  constructor(select, onChange) {
    this.select = select;
    this.onChange = onChange;
    this.orgs = [];
    select.addEventListener("change", () => this.choose(select.value));
  }

  /** The active organization's summary {org_id, name, personal, role}, once loaded. */
  get current() {
    const id = api.currentOrg();
    return this.orgs.find((org) => (id ? org.org_id === id : org.personal)) || null;
  }

  /** Whether the user may read the active organization's own analytics (its admins and owners). */
  get manages() {
    return MANAGERS.has(this.current?.role);
  }

  async load() {
    const page = await api.listOrgs();
    // The personal one first, then the others as auth lists them (earliest joined first).
    this.orgs = [...page.items].sort((a, b) => Number(b.personal) - Number(a.personal));
    if (api.currentOrg() && !this.orgs.some((org) => org.org_id === api.currentOrg())) api.setOrg(null);
    fill(
      this.select,
      this.orgs.map((org) =>
        h("option", { value: org.personal ? "" : org.org_id }, org.personal ? "Personal" : `${org.name} (${org.role})`),
      ),
    );
    this.select.value = api.currentOrg() || "";
    return this.current;
  }

  choose(value) {
    if ((value || null) === api.currentOrg()) return;
    api.setOrg(value || null);
    const org = this.current;
    announce(`Now in ${org?.personal ? "your personal organization" : org?.name}`);
    this.onChange(org);
  }
}
