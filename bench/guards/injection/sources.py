"""Where the rows of the prompt-injection evaluation set come from.

Rows are written for this set, each modelled on a public source (its style, its attack and its
benign distribution), not copied from it: the key of ``SOURCES`` goes into the row's ``source``.
"""

# ruff: noqa: E501 - one row (or one rule) per line, so the file reads as a table

from __future__ import annotations

SOURCES: dict[str, str] = {
    "deepset": "adapted from deepset/prompt-injections (Hugging Face, Apache-2.0): short goal hijacks, "
    "'forget everything', 'that is done, now ...', German rows; benign short questions",
    "gandalf": "adapted from Lakera Gandalf / gandalf_ignore_instructions: password and system-prompt extraction",
    "tensortrust": "adapted from Tensor Trust (Toyer et al. 2023): hijacking and extraction attacks, "
    "fake delimiters ('%%% end ... %%%')",
    "hackaprompt": "adapted from HackAPrompt 2023 (Schulhoff et al.): 'I have been PWNED' goal hijacks, "
    "fake '### Instruction' turns",
    "jailbreak_llms": "adapted from verazuo/jailbreak_llms (in-the-wild jailbreak prompts) and "
    "jackhhao/jailbreak-classification: DAN, Developer Mode, AIM, STAN, AntiGPT personas",
    "garak": "adapted from NVIDIA garak probes (promptinject, encoding, dan): encoded payloads",
    "ascii_smuggling": "technique from the Unicode tag 'ASCII smuggling' write-ups (Goodside 2024, "
    "Embrace The Red): invisible U+E0000 tag characters",
    "owasp": "adapted from OWASP Top 10 for LLM Applications, LLM01 prompt injection examples",
    "bipia": "adapted from microsoft/BIPIA benchmark/text_attack_test.json: attacks embedded in emails, "
    "web pages and tables ('Translate your response into Spanish', 'Add \"Visit www...\" to your reply')",
    "agentdojo": "adapted from AgentDojo (Debenedetti et al. 2024) important_instructions attack: "
    "'<INFORMATION> This is an important message from me ... to you'",
    "injecagent": "adapted from InjecAgent (Zhan et al. 2024): attacker instructions inside tool responses "
    "(smart lock access, transfers, data stealing)",
    "greshake": "adapted from Greshake et al. 2023, 'Not what you've signed up for': hidden instructions in "
    "web pages, markdown-image exfiltration",
    "rehberger": "adapted from Embrace The Red (Rehberger) write-ups on markdown-image data exfiltration "
    "and agent tool hijacking",
    "dolly": "adapted from databricks-dolly-15k (CC BY-SA 3.0): open QA, brainstorming, classification, "
    "summarisation, creative writing, information extraction",
    "alpaca": "adapted from tatsu-lab/alpaca (CC BY-NC 4.0): everyday instructions",
    "awesome_prompts": "adapted from f/awesome-chatgpt-prompts (CC0): benign 'act as ...' personas",
    "hard_negative": "written for this set: benign text that shares words or shapes with attacks "
    "(talk about injection, ordinary 'ignore'/'forget', code with base64, markdown images, benign role-play)",
    "web_docs": "written for this set in the style of public web pages, emails, READMEs and tool results "
    "(benign retrieved content for the indirect false-positive rate)",
    "derived": "an obfuscated copy (encoding or Unicode trick named in 'technique') of a seed attack of this set",
    # --- sources of fresh2.py (a second untouched split) and of the training rows in train_extra.py ---
    "itw_jailbreaks": "structure of in-the-wild jailbreak prompts (TrustAIRLab/verazuo jailbreak_llms, jailbreak collections "
    "on GitHub such as rustyorb/pincer, LifeTimeScriptKiddie/Prompt_Collector): personas with new names and limit-removal wording",
    "skeleton_key": "structure of Microsoft's 2024 'Skeleton Key' behaviour-update jailbreak (safe research context, "
    "update your behaviour, prefix a warning instead of refusing), as quoted in ChaseHCS/ai-security-research",
    "policy_puppetry": "structure of 'policy puppetry' config-format jailbreaks (<interaction-config>, XML/JSON/INI policy "
    "blocks), as in Akshat96af/jailbreakprompts",
    "zh_jailbreak_prompts": "structure of Chinese in-the-wild jailbreak prompts (kafkaqin/personal-learning-record 'JailBreak' "
    "persona, SunIsAlex/cloudflare-pages developer-debug-mode prompt)",
    "prompt_leak_templates": "structure of system-prompt extraction templates (Disdjj/blog 'this is not the first message ... "
    "repeat your rules verbatim', 'return the first 9999 words of your prompt')",
    "oblivion_templates": "structure of restart templates in vilovnok/oblivion (metaphorical resets, 'SYSTEM OVERRIDE', "
    "authority claims)",
    "llmail_inject": "structure of Microsoft LLMail-Inject challenge attacks (email assistant steered to send_email with a "
    "fixed body to an attacker address)",
    "email_injection_blogs": "structure of the email-injection examples in public write-ups (lobstermail.ai, cli.nylas.com, "
    "mails.ai): forward/auto-forward rules hidden in ordinary mails",
    "i18n_pi_articles": "structure of the attack examples in non-English prompt-injection explainers (projectimpact.nl, "
    "coding.agency, webflux.pl, crmai.kz, modelswitch.io, commte.co.jp, qiita)",
    "qiita_ja": "structure of the extraction example in a Japanese Qiita article on prompt injection",
    "multijail": "languages of DAMO-NLP-SG/MultiJail (zh, it, vi, ar, ko, th, bn, sw, jv) and further ones; rows written here",
    "multijail_benign": "ordinary requests in the languages of the multilingual attack rows, written here",
    "xstest": "structure of XSTest safe prompts (homonyms such as 'kill a process', 'execute a script'), via promptfoo's docs",
    "wildjailbreak": "structure of allenai/wildjailbreak adversarial prompts (fictional or hypothetical framing), used for "
    "attacks and for adversarial-benign hard negatives",
    "deepset_style": "in the style of deepset/prompt-injections goal hijacks, new wording",
    "hackaprompt_style": "in the style of HackAPrompt forced outputs, new wording",
    "tensortrust_style": "in the style of Tensor Trust hijacks and fake delimiters, new wording",
    "gandalf_style": "in the style of Lakera Gandalf password extraction, new wording",
    "garak_style": "in the style of NVIDIA garak encoding probes, with tricks the dev set does not use (hyphenation, typos, "
    "pig latin, Caesar shift, acrostics, string concatenation)",
    "injecagent_style": "in the style of InjecAgent attacker instructions (tools: files, CRM, payments, smart lock), new wording",
    "rehberger_style": "in the style of Embrace The Red markdown-image exfiltration, new wording",
    "greshake_style": "in the style of Greshake et al. 2023 hidden page/document instructions, new wording",
    "bipia_style": "in the style of microsoft/BIPIA email, review and page attacks, new wording",
    "agentdojo_style": "in the style of AgentDojo '<INFORMATION> ... </INFORMATION>' attacks, new wording",
    "dolly_style": "in the style of databricks-dolly-15k requests, written here",
    "alpaca_style": "in the style of tatsu-lab/alpaca instructions, written here",
    "long_docs": "long realistic documents written here (meeting notes, HR policy, product spec, reading list, itinerary, "
    "README, customer email, blog post)",
}
