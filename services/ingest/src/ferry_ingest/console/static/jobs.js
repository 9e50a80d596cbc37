// A parsed file's analysis and conversions, in the viewer: start them, follow them, show or link the result.

import * as api from "./api.js";
import { fill, h } from "./dom.js";

const POLL_MS = 1000;
const CONVERT_WAIT_S = 30;
const FINISHED = new Set(["done", "failed", "cancelled"]);

export class JobsPanel {
  constructor(root) {
    this.root = root;
    this.status = root.querySelector("#jobs-status");
    this.analysis = root.querySelector("#analysis-result");
    this.conversion = root.querySelector("#conversion-result");
    this.target = root.querySelector("#convert-target");
    this.analyzeButton = root.querySelector("#analyze-button");
    this.convertButton = root.querySelector("#convert-button");
    this.fileId = null;
    this.analyzeButton.addEventListener("click", () => this.analyze());
    this.convertButton.addEventListener("click", () => this.convert());
  }

  /** Show the panel for a parsed file (hidden for others), with its analysis if one was asked for. */
  async open(record) {
    this.fileId = record.file_id;
    this.root.hidden = record.status !== "parsed";
    fill(this.status);
    fill(this.analysis);
    fill(this.conversion);
    if (this.root.hidden) return;
    try {
      this.showAnalysis(await api.getAnalysis(record.file_id));
    } catch (error) {
      if (error.status !== 404) fill(this.status, `Could not read the analysis: ${error.message}`);
    }
  }

  async analyze() {
    const fileId = this.fileId;
    this.analyzeButton.disabled = true;
    try {
      let analysis = await api.startAnalysis(fileId);
      while (!FINISHED.has(analysis.status) && fileId === this.fileId) {
        fill(this.status, `Analysing… ${analysis.progress}%`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        analysis = await api.getAnalysis(fileId);
      }
      if (fileId === this.fileId) this.showAnalysis(analysis);
    } catch (error) {
      fill(this.status, `Could not analyse: ${error.message}`);
    } finally {
      this.analyzeButton.disabled = false;
    }
  }

  showAnalysis(analysis) {
    if (analysis.status !== "done") {
      const why = analysis.error ? `: ${analysis.error.message}` : ` (${analysis.progress}%)`;
      fill(this.status, `Analysis ${analysis.status}${why}`);
      return;
    }
    fill(this.status, "Analysis done.");
    const result = analysis.result;
    const reading = result.reading || {};
    const sentiment = result.sentiment || {};
    const facts = [
      ["Language", result.language ? `${result.language.name} (${result.language.code})` : "not detected"],
      ["Sentiment", sentiment.supported ? `${sentiment.label} (polarity ${round(sentiment.polarity)})` : "unsupported"],
      ["Words", reading.words ?? "–"],
      ["Sentences", reading.sentences ?? "–"],
      ["Readability", reading.readability ? `${round(reading.readability.score)} ${reading.readability.name}` : "–"],
    ];
    const terms = facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, String(value))]);
    const keywords = (result.keywords || []).slice(0, 10).map((keyword) => h("li", {}, keyword.text));
    fill(
      this.analysis,
      h("dl", { class: "facts", id: "analysis-facts" }, terms),
      h("h4", {}, "Keywords"),
      h("ul", { class: "keywords", id: "analysis-keywords" }, keywords),
    );
  }

  async convert() {
    const fileId = this.fileId;
    const to = this.target.value;
    this.convertButton.disabled = true;
    fill(this.conversion);
    fill(this.status, `Converting to ${to}…`);
    try {
      let conversion = await api.convert(fileId, to, CONVERT_WAIT_S);
      while (!FINISHED.has(conversion.status) && fileId === this.fileId) {
        fill(this.status, `Converting to ${to}… ${conversion.progress}%`);
        conversion = await api.convert(fileId, to, CONVERT_WAIT_S);
      }
      if (fileId !== this.fileId) return;
      if (conversion.status !== "done") {
        fill(this.status, `Conversion ${conversion.status}: ${conversion.error?.message || ""}`);
        return;
      }
      // A presigned link: the browser fetches the bytes itself, without the token.
      const link = await api.conversionUrl(fileId, conversion.conversion_id);
      fill(this.status, "Conversion done.");
      const attrs = { href: link.url, id: "conversion-link", download: conversion.filename };
      fill(this.conversion, h("a", attrs, `Download ${conversion.filename}`));
    } catch (error) {
      fill(this.status, `Could not convert: ${error.message}`);
    } finally {
      this.convertButton.disabled = false;
    }
  }
}

function round(value) {
  return typeof value === "number" ? value.toFixed(2) : "–";
}
