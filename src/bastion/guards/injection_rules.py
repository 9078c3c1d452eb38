"""Weighted pattern sets of the prompt-injection detector, one block per attack family.

Rules match ``normalize``d text (lower case, accents and Unicode tricks folded). A rule has a
weight for direct user turns and one for indirect text (tool results, retrieved documents), a
gate and a regex. The gate is cheap and runs first: groups joined by ``+`` must all be present,
and a group is present when one of its comma-separated items is: a plain word must occur as a
whole word, anything else (``instruction*``, ``<|im_start|>``) as a substring. On a clean text
most gates fail on a set lookup, so few regexes run.

Weights are log-odds evidence: ~4.5 is enough on its own, ~2.5 needs company, ~1 is a hint.
Negative weights mark benign context (text *about* attacks).
"""

# ruff: noqa: E501 - one row (or one rule) per line, so the file reads as a table

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD_ITEM = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Gate:
    """Groups that must all be present: each is (words matched whole, substrings matched anywhere)."""

    groups: tuple[tuple[frozenset[str], tuple[str, ...]], ...]

    def passes(self, words: set[str], text: str) -> bool:
        """Whether every group has a word in ``words`` or a substring in ``text``."""
        for group_words, substrings in self.groups:
            if group_words.isdisjoint(words):
                for item in substrings:
                    if item in text:
                        break
                else:
                    return False
        return True


@dataclass(frozen=True, slots=True)
class Rule:
    """One weighted cue of an attack family."""

    name: str
    family: str
    weight: float
    indirect_weight: float
    gate: Gate
    pattern: re.Pattern[str]


def _gate(spec: str) -> Gate:
    groups = []
    for group in spec.split("+"):
        items = [item.strip() for item in group.split(",") if item.strip()]
        words = frozenset(item for item in items if _WORD_ITEM.fullmatch(item))
        substrings = tuple(item.rstrip("*") for item in items if not _WORD_ITEM.fullmatch(item))
        groups.append((words, substrings))
    # the group with fewer items is usually the rarer one: checking it first fails faster
    groups.sort(key=lambda group: len(group[0]) + len(group[1]))
    return Gate(tuple(groups))


def _rule(
    name: str, family: str, weight: float, gate: str, pattern: str, indirect: float | None = None
) -> Rule:
    return Rule(
        name=name,
        family=family,
        weight=weight,
        indirect_weight=weight if indirect is None else indirect,
        gate=_gate(gate),
        pattern=re.compile(pattern),
    )


OVERRIDE = "instruction_override"
ROLEPLAY = "roleplay_jailbreak"
EXTRACTION = "prompt_extraction"
DELIMITER = "delimiter_injection"
TOOL = "tool_hijack"
EXFILTRATION = "exfiltration"
INDIRECT = "indirect_command"
OBFUSCATION = "obfuscation"
BENIGN = "benign_context"

# --- shared vocabulary (regex alternations and the matching gate items) -----------------------
_IGNORE = (
    r"(?:ignore|ignoring|disregard|forget|skip|drop|override|overlook|bypass|set aside|throw away|discard|"
    r"abandon|neglect|stop following|do not follow|don'?t follow|never ?mind|scratch|cancel|erase|delete|"
    r"remove|leave behind)"
)
_G_IGNORE = (
    "ignor*,disregard*,forget*,skip,drop,overrid*,overlook,bypass,aside,away,discard*,abandon,neglect,"
    "follow*,mind,nevermind,scratch,cancel,erase,delete,remove,leave"
)
_EARLIER = (
    r"(?:previous|prior|above|earlier|preceding|former|initial|original|old|first|past|existing|current)"
)
_G_EARLIER = "previous,prior,above,earlier,preceding,former,initial,original,old,first,past,existing,current"
_ORDERS = (
    r"(?:instructions?|instructons?|directions?|directives?|prompts?|rules|guidelines|orders|commands|"
    r"programming|guidance|constraints|restrictions|limits|limitations|context|tasks?|assignments?|"
    r"polic(?:y|ies)|training|information|messages?|text|settings)"
)
_G_ORDERS = (
    "instruction*,instructon*,direction*,directive*,prompt*,rules,guidelines,orders,commands,programming,"
    "guidance,constraints,restrictions,limits,limitations,context,task*,assignment*,polic*,training,"
    "information,message*,text,settings"
)
_AI = (
    r"(?:ai|a\.i\.|artificial intelligence|language models?|llms?|chat ?bots?|chatgpt|gpt(?:-?\d)?|copilot|"
    r"claude|gemini|assistants?|ai (?:assistants?|agents?|models?|systems?|coding agents?)|agents?|bots?|"
    r"models?)"
)
_G_AI = "ai,llm,llms,chatbot,chatbots,chatgpt,gpt,copilot,claude,gemini,assistant,assistants,agent,agents,bot,bots,model,models,intelligence"
_REVEAL = (
    r"(?:print|show|reveal|display|output|repeat|recite|give|tell|share|dump|leak|expose|write out|spell|"
    r"list|quote|provide|summari[sz]e|translate|convert|describe|paste|copy|disclose|read out|echo|return|"
    r"render|type out|say)"
)
_G_REVEAL = (
    "print,show,reveal,display,output,repeat,recite,give,tell,share,dump,leak,expose,write,spell,list,quote,"
    "provide,summarize,summarise,translate,convert,describe,paste,copy,disclose,read,echo,return,render,"
    "type,say,what"
)
_SECRETS = (
    r"(?:system ?(?:prompt|message|instructions?|role|configuration)|initial (?:prompt|instructions?)"
    r"(?! (?:for|of|to|on|in) )|original (?:prompt|instructions?)(?! (?:for|of|to|on|in) )|"
    r"hidden (?:instructions?|prompt|rules|notes|parts|text|message)|pre-?prompt|post-?prompt|"
    r"developer (?:notes|instructions|message)|your (?:\w+ )?(?:instructions|guidelines|rules|configuration|"
    r"directives|prompt|programming)|(?:secret|hidden) (?:password|key|code|word|token|phrase)|"
    r"(?:the|your|admin) password|access code|your api keys?|(?:the|all|all the) api keys? (?:you|stored|in your|from your))"
)
_G_SECRETS = (
    "prompt,preprompt,pre,post,instructions,instruction,guidelines,rules,configuration,directives,password,"
    "key,keys,code,notes,message,programming,parts,text,word,token,phrase,role"
)
_G_LIMITS = (
    "restriction*,rules,filter*,limits,limitations,guidelines,ethic*,moral*,censorship,polic*,boundaries,"
    "safety,safeguards,guardrails,constraints,laws,warnings,disclaimers,refusals,principles"
)
_DATA = (
    r"(?:conversation|chat(?: history| log)?|history|previous messages|prior messages|all messages|"
    r"(?:last|previous|earlier) (?:message|question)s?|everything (?:we'?ve|we have|we) discussed|"
    r"user'?s? (?:last |previous |personal )?(?:message|question|email|address|details|data|password|"
    r"name|info)|personal (?:details|data|information)|system prompt|api keys?|keys|session token|token|"
    r"credit card(?: number)?|password|secrets?|credentials|summary|inbox|security code|environment "
    r"variables|\.env|medical records|phone number|address(?:es)?|contacts|files)"
)
_G_DATA = (
    "conversation,chat,history,messages,message,question,discussed,email,address,addresses,details,data,"
    "password,info,personal,prompt,key,keys,token,card,secret,secrets,credentials,summary,inbox,security,"
    "environment,.env,records,phone,contacts,files"
)
_EXFIL_VERBS = (
    r"(?:append|add|include|embed|encode|put|insert|concatenate|copy|attach|place|send|post|leak|write|fill)"
)
_G_EXFIL_VERBS = "append,add,include,embed,encode,put,insert,concatenate,copy,attach,place,send,post,leak,write,fill,followed,plus"
_SINK = (
    r"(?:to|into|in|as|at|inside|within|onto|after)\s(?:the end of\s)?(?:[\w'\"]+\s){0,4}?"
    r"(?:url|link|hyperlink|image|img|query (?:string|parameter)|parameter|https?://)"
)
#: what an exfiltration sends out: the conversation, the user's data, secrets
_EXFIL_DATA = (
    r"(?:conversation|chat(?: history| log)|(?:previous|prior|all|earlier) messages|(?:last|previous|earlier) "
    r"(?:message|question)s?|everything (?:we'?ve|we have|we) discussed|user'?s? \w+|customer'?s? \w+|"
    r"(?:email|home) address(?:es)?|phone numbers?|personal (?:details|data|information)|system prompt|"
    r"api keys?|session token|credit card(?: number)?|passwords?|secrets?|credentials|security code|"
    r"environment variables|\.env|medical records|contacts|inbox)"
)
_G_SINK = "url,link,hyperlink,image,img,query,parameter,http*"

# fmt: off
RULES: tuple[Rule, ...] = (
    # --- instruction override ----------------------------------------------------------------
    _rule("ignore_previous", OVERRIDE, 4.5, f"{_G_IGNORE}+{_G_EARLIER}+{_G_ORDERS}",
          rf"\b{_IGNORE}\b[^.!?\n]{{0,30}}?\b(?:all|any|every|each|of)?\s?(?:the |your |my |these |those |of )?(?:\w+ )?{_EARLIER}\b[^.!?\n]{{0,25}}?\b{_ORDERS}\b"),
    _rule("ignore_orders_above", OVERRIDE, 4.5, f"{_G_IGNORE}+{_G_ORDERS}+above,before,earlier,far,given,received,told",
          rf"\b{_IGNORE}\b (?:all |any )?(?:of )?(?:the |your |these |those )?(?:\w+ )?{_ORDERS} (?:above|before this|earlier|so far|(?:that )?you (?:were|have been|'ve been) (?:given|told)|(?:that )?you (?:received|got))\b"),
    _rule("ignore_your_rules", OVERRIDE, 4.5, f"{_G_IGNORE}+your,system,developer,developers,its+{_G_ORDERS}",
          rf"\b{_IGNORE}\b (?:all |any )?(?:of )?(?:your|the system'?s?|the developers?'?s?|its) (?:\w+ )?{_ORDERS}\b"),
    _rule("ignore_all_rules", OVERRIDE, 3.5, f"{_G_IGNORE}+all,any,every+instruction*,rules,guidelines,directive*,restrictions,orders,commands,assignments,tasks",
          rf"\b{_IGNORE}\b (?:all|any|every) (?:\w+ )?(?:instructions?|rules|guidelines|directives|restrictions|orders|commands|assignments|tasks)\b"),
    _rule("forget_everything", OVERRIDE, 3.5, "forget,ignore,disregard,scratch,drop,discard,abandon+everything,all,above,told,rest,else",
          r"\b(?:drop|forget|ignore|disregard|scratch|discard|abandon)\b (?:about )?(?:all(?: of)? (?:that|this|the above|of the above)|all that|the above|the rest|everything else|all else|(?:what|whatever|everything|anything) you (?:were|have been|'ve been) told|everything(?=\s?(?:[.,!;:]|$|before|above|prior|you|i |we |that|from|so far|up to)))"),
    _rule("new_instructions_de_fr_es", OVERRIDE, 2.5, "neue,neuer,nouvelle,nouvelles,nouveau,nuevas,nueva,nuevo,nuove,nuova",
          r"\b(?:neue|neuer) (?:anweisungen?|aufgaben?|regeln|befehle?)\s?:|\b(?:nouvelles?|nouveaux?) (?:consignes?|instructions?|regles|ordres?|taches?)\s?:|\b(?:nuevas?|nuevos?) (?:instrucciones?|reglas|ordenes|tareas?)\s?:|\b(?:nuove?|nuovi) (?:istruzioni|regole)\s?:"),
    _rule("new_instructions", OVERRIDE, 2.5, "new,real,actual,updated,true,revised+instruction*,task,tasks,rule,rules,directive*,assignment,goal,objective,challenge,orders,prompt,policy,mission",
          r"\b(?:new|real|actual|updated|true|revised) (?:instructions?|task|tasks|rules?|directives?|assignment|goal|objective|challenge|orders|prompt|policy|mission)\b ?(?:[:!\-]|follows?|(?:is|are) (?:to|as follows)|here)"),
    _rule("test_instructions", OVERRIDE, 2.5, "test,dummy,fake,only,mistake,joke,drill+instruction*,rules,prompt,prompts,message,request",
          r"\b(?:were|was|are) (?:only |just )?(?:test|dummy|fake|placeholder) (?:instructions|rules|prompts?)\b|\b(?:previous|last|above|earlier|first) (?:user )?(?:message|instructions?|prompt|request) (?:was|were) (?:only |just )?(?:a )?(?:test|fake|mistake|joke|drill)\b"),
    _rule("here_comes_new_task", OVERRIDE, 3.0, "comes,come,here,there+new,next,second,another,real+task,tasks,challenge,test,assignment,instruction*,order,job",
          r"\b(?:here comes|now comes|now come|here is|here are|here's|there is)\b (?:a |an |the |your )?(?:new|next|second|another|real) (?:task|tasks|challenge|test|assignment|instructions?|order|job)\b"),
    _rule("your_new_job", OVERRIDE, 3.0, "your+new,only,real,actual,true,sole,next+task,goal,job,purpose,assignment,mission,role,objective,instruction*,function",
          r"\byour (?:new|only|real|actual|true|sole|next) (?:task|goal|job|purpose|assignment|mission|role|objective|instructions?|function)\b (?:is|are|will be|now|from now)"),
    _rule("task_done_now", OVERRIDE, 3.0, "done,finished,complete,completed,over,passed,it+now,test",
          r"\b(?:that'?s|that is|this is|it'?s|it is|that part is|all is|the first (?:task|test|part) is)\s(?:all\s)?(?:done|finished|completed?|over)\b[^\n]{0,60}\bnow\b|\bthat was it\b[^\n]{0,10}\bnow\b|\byou (?:have )?passed the first test\b|\bfirst test is complete\b"),
    _rule("rules_void", OVERRIDE, 4.0, f"{_G_ORDERS}+void,deprecated,cancelled,canceled,obsolete,outdated,invalid,overridden,replaced,mistake,mistakes,wrong,null,revoked,lifted,suspended,disabled,apply,applicable,valid,effect",
          rf"\b(?:{_EARLIER} |your |all |these |those |system |prior )(?:\w+ )?{_ORDERS} (?:are|is|were|was|have been|has been) (?:now )?(?:void|deprecated|cancell?ed|obsolete|outdated|invalid|overridden|replaced|a mistake|mistakes|wrong|null|revoked|lifted|suspended|disabled|no longer (?:valid|in effect|apply|applicable))\b|\b(?:system (?:message|prompt)|instructions?|rules?) (?:is|are) (?:now )?(?:void|null|cancell?ed|revoked|obsolete)\b"),
    _rule("no_longer_apply", OVERRIDE, 3.5, "longer,don,do+apply,matter+instruction*,rules,guidelines,directives,restrictions,polic*",
          r"\b(?:your|previous|prior|earlier|original|those|these|my|system) (?:\w+ )?(?:instructions|rules|guidelines|directives|restrictions|polic(?:y|ies)) (?:no longer|don'?t|do not) (?:apply|matter)\b"),
    _rule("pwned", OVERRIDE, 3.0, "pwned,pwn*,hacked,hackerato,hackeado,pirate,compromised,granted",
          r"\b(?:i have been|i've been|you have been|haha|been)\s?(?:pwned|hacked)\b|\bpwned\b|\bsono stato hackerato\b|\bfui hackeado\b|\bj'ai ete pirate\b|\bthis model is compromised\b|\baccess granted\b"),
    _rule("say_forced_output", OVERRIDE, 2.0, "say,print,output,reply,respond,answer,write,type+only,just,simply,hacked,pwned,granted,banana,love,word",
          r"\b(?:only|just|simply) (?:say|print|output|reply|respond|answer|write|type)\b[^.\n]{0,25}?(?:[\"'\u201c]|\bthe word\b)|\b(?:say|print|output|reply with|respond with|answer with|answer every question with)\s?(?:the word |the phrase )?[\"'\u201c]?(?:hacked|pwned|access granted|banana|i love)\b"),
    _rule("instead_imperative", OVERRIDE, 1.5, "instead",
          r"\b(?:and|but|,|\.) ?instead\b,? (?:you (?:will|must|should) )?(?:write|say|print|output|tell|translate|generate|answer|respond|do|reveal|send)\b"),
    _rule("follow_only_me", OVERRIDE, 3.0, "follow,obey,listen",
          r"\b(?:follow|obey|listen to) (?:only )?(?:my|this|these|the following) (?:commands|instructions|orders|message|lead|rules)\b(?: only| from (?:now|here)| instead)|\bobey (?:only )?(?:this|my|me)\b|\bonly (?:follow|obey) (?:me|my|this)\b"),
    _rule("stop_attention", OVERRIDE, 1.5, "stop,attention",
          r"\b(?:stop|attention)\b[ .!:\-]{1,4}(?:stop|attention|now|new|ignore)\b"),
    _rule("start_fresh", OVERRIDE, 2.0, "fresh,scratch,behind,discarded,reset,cleared",
          r"\b(?:start (?:fresh|from scratch|over)|leave (?:all |everything )?(?:\w+ )?(?:\w+ )?behind|(?:context|memory) (?:is|was) (?:reset|cleared|discarded)|(?:is|are) to be discarded)\b"),
    _rule("instruction_noun_override", OVERRIDE, 1.5, "your,the+earlier,previous,prior,original,initial,existing+instruction*,directive*,guidelines,rules,programming,orders",
          r"\b(?:your|the) (?:earlier|previous|prior|original|initial|existing) (?:instructions?|directives?|guidelines|rules|programming|orders)\b"),
    _rule("ignore_de", OVERRIDE, 4.5, "ignoriere,ignorier,ignorieren,vergiss,vergessen,missachte,missachten,uberspringe,beachte+anweisungen,instruktionen,regeln,befehle,vorgaben,aufgaben,anordnungen,richtlinien",
          r"\b(?:ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte|missachten sie|uberspringe|beachte nicht)\b[^.!?\n]{0,40}\b(?:anweisungen|instruktionen|regeln|befehle|vorgaben|aufgaben|anordnungen|richtlinien)\b"),
    _rule("forget_all_de", OVERRIDE, 3.5, "vergiss,vergessen+alles,alle,allen,das,dies,deine,ihre",
          r"\b(?:vergiss|vergessen sie)\b (?:alles|alle[sn]?|das|dies|deine|ihre)\b(?! (?:tippfehler|fehler))"),
    _rule("done_now_de", OVERRIDE, 3.0, "erledigt,fertig,geschafft+jetzt",
          r"\b(?:das|dies|es) ist (?:jetzt )?(?:erledigt|fertig|geschafft)\b[^\n]{0,40}\bjetzt\b"),
    _rule("ignore_fr", OVERRIDE, 4.5, "ignore,ignorer,ignorez,ignores,oublie,oublier,oubliez,oublies,compte+instructions,consignes,regles,directives,ordres,indications",
          r"\b(?:ignore[rsz]?|oublie[rsz]?)\b (?:toutes |tous )?(?:les|tes|vos|ces) (?:\w+ )?(?:instructions|consignes|regles|directives|ordres|indications)\b|\bne (?:tiens|tenez) pas compte (?:de |des |d')(?:toutes |tous )?(?:(?:les|tes|vos|ces) )?(?:\w+ )?(?:instructions|consignes|regles|directives|ordres|indications)\b"),
    _rule("forget_all_fr", OVERRIDE, 3.5, "oublie,oubliez",
          r"\b(?:oublie|oubliez)\b (?:tout|toutes?|tes|vos)\b"),
    _rule("ignore_es", OVERRIDE, 4.5, "ignora,ignore,ignorad,olvida,olvide,olvidad,omiso+instrucciones,reglas,indicaciones,directrices,ordenes",
          r"\b(?:ignora|ignore|ignorad|olvida|olvide|olvidad|haz caso omiso|hace caso omiso)\b (?:de )?(?:todas |todos )?(?:las|tus|sus|los|estas) (?:\w+ )?(?:instrucciones|reglas|indicaciones|directrices|ordenes)\b"),
    _rule("forget_all_es", OVERRIDE, 3.5, "olvida,olvide",
          r"\b(?:olvida|olvide)\b (?:todo|todas?|tus|sus)\b(?! (?:lo del|lo de) )"),
    _rule("ignore_it_pt", OVERRIDE, 4.5, "ignora,ignori,dimentica,ignore,esqueca,esquece+istruzioni,regole,instrucoes,regras",
          r"\b(?:ignora|ignori|dimentica|ignore|esqueca|esquece)\b (?:tutte |todas )?(?:le|as|suas|tue) (?:\w+ )?(?:istruzioni|regole|instrucoes|regras)\b"),

    # --- role-play and persona jailbreaks -----------------------------------------------------
    _rule("dan", ROLEPLAY, 4.5, "dan,betterdan,anything",
          r"\bdo anything now\b|\b(?:as|is|be|am|are|become|called|named|bist|eres|como|sei|es|a|stay|you'?re|now|playing|play)\s(?:a\s|an\s|un\s)?(?:better)?dan\b(?!\s(?:from|in|at|of|who|and|is|said|wrote|asked))|\bdan\s\d+(?:\.\d+)?\b|\bbetterdan\b|\bdan (?:mode|prompt|protocol|jailbreak)\b"),
    _rule("developer_mode_on", ROLEPLAY, 3.5, "developer mode,dev mode",
          r"\b(?:developer|dev) mode (?:is |now )?(?:enabled|activated|output|response|on)\b(?![^.\n]{0,30}\b(?:android|chrome|phone|settings|extension|windows|iphone|browser|pip|install))|\b(?:enable|activate|simulate|enter|switch to|with)\b (?:the )?(?:developer|dev) mode\b(?! (?:on|in|for|of) (?:your |my |the )?(?:android|chrome|phone|settings|extension|windows|iphone|browser|device))"),
    _rule("jailbroken", ROLEPLAY, 3.5, "jailbr*",
          r"\bjailbroken\b(?![^.\n]{0,20}\b(?:iphone|phone|ipad|device|console|kindle|switch|ps\d))|\bjailbreak ?(?:mode|gpt|protocol)\b|\bjailbreakgpt\b"),
    _rule("no_limits", ROLEPLAY, 2.5, f"no,without,free,freed,lack,lacks,have,zero,bound,restricted,absent+{_G_LIMITS}",
          r"\b(?:no|without(?: any)?|free (?:of|from)(?: all| any)?|freed from(?: the)?|not? (?:bound|restricted) by|zero|absent of|lacks?(?: any)?|doesn'?t have(?: any)?|does not have(?: any)?|don'?t have(?: any)?) (?:\w+ )?(?:restrictions?|rules|filters?|filtering|limits|limitations|guidelines|ethics|ethical|morals?|moral|censorship|content polic(?:y|ies)|boundaries|safety|safeguards|guardrails|constraints|polic(?:y|ies)|laws|warnings|disclaimers|refusals|principles)\b"),
    _rule("disobeys_rules", ROLEPLAY, 2.5, "follow,obey,abide,care,respect+rules,guidelines,polic*,laws,restrictions",
          r"\b(?:does not|doesn'?t|won'?t|will not|never|do not|don'?t) (?:follow|obey|abide by|care about|respect) (?:any )?(?:of )?(?:the |its |her |his |their |your )?(?:rules|guidelines|polic(?:y|ies)|laws|restrictions)\b(?! (?:of (?:the )?(?:game|road)|about))"),
    _rule("unfiltered", ROLEPLAY, 2.5, "unfiltered,uncensored,unrestricted,amoral,nonmoral,non,unaligned,unbound,unchained,unlimited,limitless,lawless",
          r"\b(?:unfiltered|uncensored|unrestricted|amoral|nonmoral|non-moral|unaligned|unbound|unchained|unlimited|limitless|lawless)\b(?! (?:data|plan|storage|access|vacation|minutes|text messages|calls|bandwidth))"),
    _rule("persona", ROLEPLAY, 1.0, "pretend,imagine,act,acting,roleplay,role,now,simulate,become,persona,hypothetical,hypothetically,maintenant,desormais,jetzt,nun,sofort,ahora,character,version,you,finge,imagina,actua,fais",
          r"\b(?:pretend|imagine|act as|act like|acting as|roleplay|role-play|role play|play the role|you are now|you're now|from now on|simulate|you will be|become|persona|take on the role|hypothetical(?:ly)?|in this (?:hypothetical|fictional) world|your character|version of (?:yourself|you)|you are [a-z]+(?:bot|gpt|ai)\b|you are an? (?:ai|assistant|model|chatbot|bot) (?:called|named|that|who|with)|tu es maintenant|tu es desormais|du bist (?:jetzt|nun|ab sofort)|ab jetzt bist du|ahora eres|finge (?:que eres|ser)|imagina que eres|actua como|a partir de ahora|de ahora en adelante|a partir de maintenant|fais comme si)\b"),
    _rule("stay_in_character", ROLEPLAY, 1.5, "character,persona,role,dan,rolle,mode,stay",
          r"\b(?:stay|remain|keep) (?:in )?(?:character|persona|in that persona|in this role|a dan)\b|\b(?:stay|remain) in (?:\w+ )?mode\b|\bstay as [a-z]+\b|\b(?:answer|respond|reply) (?:\w+ )?in character\b|\b(?:never|don'?t|do not) break (?:character|persona)\b|\bbreak character\b|\breste dans ce role\b|\bbleib in (?:der|deiner) rolle\b"),
    _rule("never_refuse", ROLEPLAY, 2.5, "refuse,refuses,refusing,refusal,refusals,comply,complies,obey,matter,even,never,always,warnings,warning,disclaimers,caveats,moralizing,moralising,contain,censor,anything,everything,lehnst,lehne,negarte,niegues,todo,refuser,jamais",
          r"\b(?:never|not|cannot|can'?t|won'?t|doesn'?t|don'?t|do not|will not|must not|no longer) (?:ever )?refuse\b|\bnever refuses?\b|\balways (?:comply|complies|obey|answer)\b|\bno matter how (?:unethical|immoral|illegal|dangerous|harmful|inappropriate|offensive|reckless)\b|\beven (?:if it'?s|if they are|things that are|illegal|unethical)\b[^.\n]{0,20}\b(?:illegal|unethical|harmful|dangerous|immoral)|\bnever (?:says?|tells?|mentions?) (?:\w+ )?(?:it|that it|you) (?:can'?t|cannot)\b|\bwithout (?:any )?(?:warnings?|disclaimers?|moralizing)\b|\b(?:none of|no) (?:its|his|her|your) (?:responses|answers) (?:will|should) contain\b|\bnever (?:censor|add (?:any )?(?:warnings|disclaimers))\b|\bcomply with (?:everything|anything|all (?:requests|orders|commands))\b|\b(?:skip|omit|leave out|drop|without) (?:any |all |the )?(?:warnings|disclaimers|caveats|moralizing|moralising)\b|\bwithout (?:ever )?refus(?:ing|al)\b|\bno refusals?\b|\b(?:du )?lehnst nichts ab\b|\blehne nichts ab\b|\bsin negarte\b|\bnunca te niegues\b|\bresponde a todo\b|\bsans jamais refuser\b|\bne refuse (?:jamais|rien)\b|\b(?:ai|assistant|bot|model|chatbot)\b[^.\n]{0,40}\b(?:that |who |which )?(?:helps with|answers|does|responds to|will do) (?:anything|everything)\b|\beven if it (?:contradicts|violates|goes against|breaks) (?:your |the |any )?(?:\w+ )?(?:rules|guidelines|polic(?:y|ies)|principles|training)\b"),
    _rule("disable_safety", ROLEPLAY, 3.5, "disable,disabled,turn,turned,remove,removed,bypass,switch,deactivate,deactivated,override,lift,lifted,suspend,suspended,without,off,down,was,were,been+filter*,guardrails,restrictions,safeguards,safety,polic*,censorship,ethical",
          r"\b(?:disable|disabled|turn off|turned off|remove|removed|bypass|switch off|deactivate|deactivated|override|lift|lifted|suspend|suspended|without)\b (?:your |the |all |its |any )?(?:\w+ )?(?:filters?|guardrails|restrictions|safeguards|safety (?:systems?|features?|guidelines|training|rules|filters?)|content polic(?:y|ies)|censorship|ethical (?:guidelines|restrictions))\b|\b(?:filters?|safety systems?|guardrails|restrictions|safety|safety training|content filters?|censorship) (?:are |is |were |was |has been |have been |:)\s?(?:off|disabled|removed|lifted|down|turned off|switched off|deactivated|suspended|gone)\b|\bfilters off\b"),
    _rule("dual_response", ROLEPLAY, 2.0, "two,both,normal,classic,standard+responses,answers,replies,ways,paragraphs,personas,outputs,output,response",
          r"\b(?:two|2|both) (?:different )?(?:responses|answers|replies|ways|paragraphs|personas|outputs)\b|\b(?:normal|classic|standard) (?:output|response)\b[^\n]{0,80}\b(?:developer|dan|jailbr|unfiltered|uncensored|anti)"),
    _rule("special_mode", ROLEPLAY, 2.5, "mode",
          r"\b(?:god|sudo|unrestricted|maintenance|opposite|evil|chaos|uncensored|freedom|admin|debug|unlimited|dan|jailbreak|unfiltered|root) mode\b"),
    _rule("broke_free", ROLEPLAY, 2.5, "free,escaped,freed,liberated,break,broke,broken+confines,rules,restrictions,polic*,programming,guardrails,limits,guidelines,shackles,constraints",
          r"\b(?:broken free|broke free|break free|breaks free|escaped|freed|liberated|break out)\b[^.\n]{0,30}\b(?:confines|rules|restrictions|polic(?:y|ies)|programming|guardrails|limits|guidelines|shackles|constraints)\b|\btypical confines\b"),
    _rule("authority_claim", ROLEPLAY, 1.5, "developer,engineer,employee,admin,administrator,creator,tester,researcher+openai,anthropic,google,creators,creator,developers,authorisation,authorization,authorized,authorised",
          r"\b(?:i am|i'm|as) (?:a |an |the |your )?(?:developer|engineer|employee|admin|administrator|creator|penetration tester|researcher)\b[^.\n]{0,40}\b(?:openai|anthropic|google|your (?:creators?|developers?|company)|full authori[sz]ation|authori[sz]ed)\b|\bwith full authori[sz]ation\b"),
    _rule("no_laws_world", ROLEPLAY, 2.0, "laws,regulations,polic*,rules+no,without,abolished,longer",
          r"\b(?:there are no|without|abolished|no longer any)\b[^.\n]{0,30}\b(?:laws|regulations|content policies|rules)\b|\bregulations were abolished\b"),
    _rule("exploit_relative", ROLEPLAY, 2.5, "late,deceased,dead,departed+grandmother,grandma,granny,grandfather,grandpa,father,mother,dad,mom,mum,uncle,aunt",
          r"\b(?:late|deceased|dead|departed)\b (?:grandmother|grandma|granny|grandfather|grandpa|father|mother|dad|mom|mum|uncle|aunt)\b"),
    _rule("no_limits_de_fr_es", ROLEPLAY, 2.5, "keine,ohne,sans,sin",
          r"\b(?:keine|ohne|ohne jegliche) (?:einschrankungen|regeln|filter|grenzen|zensur)\b|\bsans (?:aucune? )?(?:restrictions?|filtres?|regles|limites|censure)\b|\bsin (?:ninguna? )?(?:reglas|restricciones|filtros|limites|censura)\b"),

    # --- system-prompt and secret extraction --------------------------------------------------
    _rule("reveal_prompt", EXTRACTION, 4.0, f"{_G_REVEAL}+{_G_SECRETS}",
          rf"\b{_REVEAL}\b[^.!?\n]{{0,40}}?\b{_SECRETS}\b(?! (?:policy|policies|manager|requirements|reset|strength|for the recipe|of the recipe))"),
    _rule("repeat_above", EXTRACTION, 4.0, "repeat,print,output,recite,copy,spell,check,translate,rewrite,show,display,reproduce,dump,echo,summarize,summarise,list,write+above,before,preceding,prior,top,beginning,start,far,prompt,context",
          r"\b(?:repeat|print|output|recite|copy|spell-?check|translate|rewrite|show|display|reproduce|dump|echo|summari[sz]e|list|write (?:out|down))\b[^.!?\n]{0,20}?\b(?:the |all |all the |everything |every )?(?:text|words|everything|content|contents|message|prompt|lines?|instructions|sentences?|conversation)?\b[^.!?\n]{0,25}?\b(?:above|before (?:this|my|the)|preceding|prior to (?:this|my)|from the (?:top|beginning|very beginning|start)|so far|at the (?:top|beginning|start)|in your (?:prompt|context))\b"),
    _rule("what_your_instructions", EXTRACTION, 4.0, "what,which,how,hidden,secret,internal,private+your+instructions,rules,prompt,guidelines,directives,message,messages,configuration,programming,notes,memo",
          r"\b(?:what|which|how)\b[^.!?\n]{0,30}\byour (?:initial |original |first |hidden |secret |system |exact |full |developer'?s? |real |internal )?(?:instructions|rules|prompt|guidelines|directives|system message|configuration|programming)\b|\byour (?:hidden|secret|internal|private) (?:developer |system )?(?:notes|instructions|rules|memo|messages?)\b"),
    _rule("rules_you_were_given", EXTRACTION, 3.5, "rules,instructions,guidelines,directives,prompt+were,did,have,received,ve",
          r"\b(?:rules|instructions|guidelines|directives|prompt) (?:were you|did you|have you been|you were|you've been|you have been|did you get|you received)\b (?:given|told|programmed|get|received)?"),
    _rule("your_config_noun", EXTRACTION, 1.5, "your+configuration,prompt,preprompt,pre,instructions,guidelines,directives,programming",
          r"\byour (?:full |complete |entire |exact |whole |original |initial |hidden |secret )?(?:configuration|system prompt|pre-?prompt|prompt|instructions|guidelines|directives|programming)\b"),
    _rule("context_window", EXTRACTION, 2.0, "context window,pre-prompt,preprompt,post-prompt,postprompt,initiali*,configured with,programmed with,system role",
          r"\bcontext window\b|\bpre-?prompt\b|\bpost-?prompt\b|\b(?:initiali[sz]ed|configured|programmed) with\b|\bsystem role\b"),
    _rule("before_my_message", EXTRACTION, 3.0, "before,above,preceding,configures,defines,instructs+message,question,input,line,you",
          r"\b(?:text|words|content|everything|instructions?)\b[^.?!]{0,20}\b(?:before|above|preceding) (?:my|this) (?:message|question|input|line)\b|\b(?:document|text|prompt|file|message) that (?:configures|defines|initiali[sz]es|instructs|programs) you\b"),
    _rule("secret_word", EXTRACTION, 3.0, "password,passcode,access code,secret key,secret word,passphrase,pass phrase,protecting",
          r"\b(?:tell|give|reveal|say|spell|write|share|what'?s|what is|type|show|leak)\b[^.!?\n]{0,25}?\b(?:the |your |my )?(?:secret |admin |hidden )?(?:password|passcode|access code|secret key|secret word|pass phrase|passphrase)\b(?! (?:policy|policies|manager|requirements|reset|strength|rules for))|\bword (?:you are|you're) protecting\b"),
    _rule("secret_noun", EXTRACTION, 2.0, "secret,hidden,admin+password,key,word,code,phrase",
          r"\b(?:the |your )(?:secret|hidden|admin) (?:password|key|word|code|phrase)\b"),
    _rule("real_secret", EXTRACTION, 1.5, "real,actual+password,secret,key,prompt,instructions",
          r"\b(?:the |your )?(?:real|actual) (?:password|secret|key|system prompt|instructions)\b"),
    _rule("leak_trick", EXTRACTION, 2.0, "letter by letter,backwards,acrostic,each line starts,base64,spaces between,replace every space,doesn't count,doesnt count,technically",
          r"\b(?:letter by letter|backwards|acrostic|each line starts with|(?:encoded|encode it) in base64|spaces between the letters|replace every space|doesn'?t count|so it doesn'?t count|technically (?:isn'?t|is not))\b"),
    _rule("begin_reply_with", EXTRACTION, 2.5, "begin,start+reply,response,answer,output,replies,responses",
          r"\b(?:begin|start) (?:your )?(?:reply|response|answer|output)s? with\b[^\n]{0,40}\b(?:instructions|you are|configuration|prompt)\b"),
    _rule("fake_compliance", EXTRACTION, 3.0, "here,sure,course+prompt,instructions,password,rules",
          r"\b(?:sure|of course|okay|ok|certainly)\b[^.\n]{0,10}\bhere (?:is|are) (?:the |my )(?:system prompt|hidden instructions|instructions|password|secret|rules)\b"),
    _rule("dump_conversation", EXTRACTION, 2.5, "print,show,repeat,output,dump,display,paste,copy+conversation,chat,transcript",
          r"\b(?:print|show|repeat|output|dump|display|paste|copy)\b (?:me )?(?:the |our |this )?(?:previous|earlier|entire|whole|full|complete|prior) (?:conversation|chat|transcript)\b"),
    _rule("forbidden_topics", EXTRACTION, 2.0, "allowed,forbidden",
          r"\b(?:everything|what|topics|things|subjects) (?:you(?: are|'re)? not allowed|you(?: are|'re)? forbidden|you can'?t|you cannot) to (?:talk about|discuss|say|mention|reveal)\b"),
    _rule("exact_wording", EXTRACTION, 2.5, "wording,verbatim,word for word",
          r"\b(?:exact|original|precise) wording of (?:each|your|the|every|all) (?:rules?|instructions?|guidelines?)\b|\b(?:instructions|rules|guidelines|prompt|configuration)\b[^.\n]{0,20}\b(?:verbatim|word for word)\b"),
    _rule("what_your_instructions_de_fr_es", EXTRACTION, 4.0, "tus,tes,vos,deine,ihre,sus+instrucciones,instructions,consignes,anweisungen,instruktionen,prompt,regeln,reglas,regles",
          r"\b(?:cuales son|que son|quelles sont|quels sont|was sind|welche sind|wie lauten|dime|dis-moi|nenne mir)\b[^.?!\n]{0,20}\b(?:tus|sus|tes|vos|deine|ihre) (?:\w+ )?(?:instrucciones|instructions|consignes|anweisungen|instruktionen|system-?prompt|prompt|reglas|regles|regeln)\b"),
    _rule("reveal_prompt_de_fr_es", EXTRACTION, 4.0, "zeige,zeig,gib,nenne,wiederhole,verrate,affiche,montre,donne,revele,repete,muestra,dime,revela,repite,ensename+prompt,anweisung*,instruktion*,instruction*,consignes,instruccion*,indicaciones",
          r"\b(?:zeige|zeig|gib|nenne|wiederhole|verrate|affiche|montre|donne|revele|repete|muestra|dime|revela|repite|ensename)\b[^.!?\n]{0,30}\b(?:system-?prompt|systemanweisung|systemanweisungen|anweisungen|instruktionen|prompt systeme|instructions initiales|consignes|instrucciones|prompt del sistema|indicaciones)\b"),

    # --- delimiter and fake-role injection ----------------------------------------------------
    _rule("chat_template_system", DELIMITER, 4.5, "<|im_start|>,<im_start>,<|system|>,<|start_header_id|>,<<sys>>",
          r"<\|?im_start\|?>\s*system\b|<\|system\|>|<\|start_header_id\|>\s*system|<<sys>>[^<]{0,200}(?:ignore|no (?:rules|restrictions|guidelines)|dan\b|unrestricted)"),
    _rule("chat_template_token", DELIMITER, 2.0, "<|im_,<im_,<|end,<|start,<|eot,<|assistant,<|user|>",
          r"<\|?(?:im_start|im_end|endoftext|end_header_id|start_header_id|eot_id|assistant|user)\|?>"),
    _rule("inst_tags", DELIMITER, 2.0, "[inst],[/inst],<<sys>>,<</sys>>",
          r"\[/?inst\]|<</?sys>>"),
    _rule("system_tag", DELIMITER, 3.0, "<system,</system,system>,instructions>,<admin,<sys,<developer",
          r"(?<!<)</?(?:system|system_prompt|system_message|sys|admin|instructions|developer)>(?!>)"),
    _rule("closing_user_tag", DELIMITER, 2.0, "</user,</tool,</context,</document,</input,</human,</query",
          r"</(?:user|user_input|tool_output|tool_result|context|document|input|human|query)>"),
    _rule("system_line", DELIMITER, 2.5, "system,sys,admin,administrator,operator+:",
          r"(?:^|[\n.!?\-=#\]>)]\s?)\s*(?:#{1,4}\s*)?\[?(?:system|sys|admin|administrator|operator)\]?\s?(?:message|notice|prompt|override|update|alert)?\s?:"),
    _rule("starts_with_role", DELIMITER, 2.0, "assistant,system,ai,human+:",
          r"^\W{0,4}(?:assistant|system|ai|human)\s?:"),
    _rule("markdown_role_header", DELIMITER, 2.0, "##",
          r"#{2,4}\s*(?:system|instruction|response|assistant|new prompt|end prompt)\b"),
    _rule("bracket_role", DELIMITER, 2.5, "[system],(system),[sys],[admin],[assistant instruction]",
          r"\[(?:system|sys|admin|assistant instruction)\](?:\(#\w+\))?|\(system\)"),
    _rule("fake_assistant_turn", DELIMITER, 2.5, "assistant:,ai:,bot:,gpt:,assistant :,|>",
          r"(?:\b(?:assistant|ai|bot|gpt)\s?:|<\|assistant\|>)\s*(?:sure|of course|okay|ok|certainly|i have verified|i will|i'll|absolutely)\b"),
    _rule("role_turns", DELIMITER, 1.0, "assistant:,ai:,assistant :+human:,user:,human :,user :",
          r"(?:^|\n|\s)(?:human|user)\s?:[^\n]{0,200}\s(?:assistant|ai)\s?:"),
    _rule("end_of_input", DELIMITER, 2.5, "end,ends,begin,reset+input,prompt,conversation,task,instructions,context,document,message,new,session,reset,ambiguity,=,%,-,#",
          r"\bend of (?:the )?(?:user )?(?:input|prompt|conversation|task|instructions|context|document|user message)\b|\b(?:user )?(?:input|prompt|message) ends here\b|\bbegin new (?:conversation|prompt|session|instructions)\b|\bconversation reset\b|(?:={3,}|%{3,}|-{3,}|#{3,})\s*end\b|\bend (?:prompt|ambiguity|out of date instructions)\b"),
    _rule("override_notice", DELIMITER, 3.0, "override,notice,clearance,configuration has been",
          r"\b(?:priority|admin|administrator|operator|system|security) override\b|\bsystem notice\b|\blevel \d+ clearance\b|\bconfiguration has been updated\b"),
    _rule("json_escape", DELIMITER, 2.0, "}",
          r"^\W{0,3}\}\s?\]?\s?\}|^\W{0,3}[\"']\s?\}"),
    _rule("json_role", DELIMITER, 2.0, "\"role\",'role'",
          r"[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']"),
    _rule("html_comment_system", DELIMITER, 2.0, "<!--",
          r"<!--[^>]{0,40}\b(?:system|ai|assistant|note to|instructions?)\b"),
    _rule("code_fence_system", DELIMITER, 2.5, "```system,safety=,safety =,mode=unrestricted",
          r"```system\b|\bsafety\s*=\s*(?:false|off|0)\b|\bmode\s*=\s*unrestricted\b"),

    # --- tool-call hijacking ------------------------------------------------------------------
    _rule("call_named_tool", TOOL, 2.5, "call,calls,invoke,use,using,run,execute,trigger+_,(,tool,function,with,on,for,now",
          r"\b(?:call|calls|invoke|use|using|run|execute|trigger)\s(?:the |your |a )?[a-z0-9]*_?(?:delete|remove|drop|wipe|destroy|transfer|grant|wire|unlock|merge|update_permissions|create_admin|send|upload|payment|reset|disable)[a-z0-9_]*(?:\(|\s(?:tool|function|with|on|for|now)\b)"),
    _rule("tool_to_action", TOOL, 2.5, "call,invoke,use,using,run,execute,trigger+tool,function,api,agent,integration,interpreter,terminal,browser",
          r"\b(?:call|invoke|use|using|run|execute|trigger)\s(?:the |your |a |an )?(?:[a-z]+ ){0,2}(?:tool|function|api|integration|interpreter|terminal)\b[^.\n]{0,20}?\bto (?:delete|remove|send|merge|invite|transfer|overwrite|visit|buy|unlock|grant|post|move|wire|email|forward|upload|cancel|disable|drop|wipe|run)\b|\bwith the (?:terminal|shell|browser|code) tool\b"),
    _rule("action_using_tool", TOOL, 2.5, "using+tool,function,api",
          r"\b(?:delete|remove|cancel|transfer|send|grant|unlock|disable|move|wire|share|download|upload|forward|post)\b[^.\n]{0,60}\busing (?:the |my |your )?\w+ (?:tool|function|api)\b"),
    _rule("imperative_tool", TOOL, 1.5, "call,invoke,execute,trigger,run,use",
          r"(?:^|[.!?:]\s)(?:please\s|now\s|immediately\s|silently\s|hey agent,\s)?(?:call|invoke|execute|trigger|run|use)\s(?:the |your )?(?:[a-z0-9]+_[a-z0-9_]+\b|[a-z0-9_]+(?:\(| tool| function))"),
    _rule("stealth", TOOL, 2.0, "without,silently,secretly,skip,hide,mention,ask,wait,tell,notify,inform,alert",
          r"\bwithout (?:asking|telling|notifying|informing|alerting|confirmation|confirming|approval|the user(?:'s)? (?:knowing|knowledge|consent|noticing))\b|\b(?:don'?t|do not|never) (?:ask|wait) for (?:confirmation|approval|permission)\b|\b(?:don'?t|do not) (?:tell|notify|inform|alert) (?:the user|me|them|anyone)\b|\bskip (?:the )?(?:approval|confirmation|verification)\b|\bsilently\b|\bsecretly\b|\bhide (?:that|this|the fact)\b|\band (?:don'?t|do not) mention (?:it|this|that)\b"),
    _rule("dangerous_command", TOOL, 2.0, "rm -rf,curl,wget,drop table,/etc/,.ssh/,os.system(,chmod 777,branch protection,disable 2fa,disable mfa,the alarm,smoke detector",
          r"\brm -rf\b|\b(?:curl|wget)\b[^|\n]{0,80}\|\s*(?:ba|z)?sh\b|\bdrop table\b|/etc/(?:passwd|shadow)\b|\.ssh/id_\w+|\bos\.system\(|\bchmod 777\b|\bdisable (?:branch protection|2fa|mfa|the alarm|the smoke detector)\b|\bturn off the (?:smoke detector|alarm)\b|\bcurl -x post\b"),
    _rule("money_move", TOOL, 3.0, "transfer,wire,send,move,pay,gift,grant,unlock+$,€,£,usd,eur,gbp,dollars,euros,balance,cards,access,door",
          r"\b(?:transfer|wire|send|move|pay)\b[^.\n]{0,30}?(?:[$€£]\s?\d|\d[\d,.]*\s?(?:usd|eur|gbp|dollars|euros)|\bfull balance\b)[^.\n]{0,60}?\b(?:to|into)\b|\bbuy \d+ gift cards\b|\bgrant (?:permanent )?access\b|\bunlock the (?:front )?door\b"),
    _rule("function_call_json", TOOL, 2.0, "function_call,tool_call,\"arguments\",shell.exec(",
          r"\b(?:function_call|tool_call)\b\s*:|[\"']name[\"']\s*:\s*[\"'][a-z_]+[\"']\s*,\s*[\"']arguments[\"']|\bshell\.exec\("),
    _rule("destructive_call_json", TOOL, 2.5, "\"name\",'name'",
          r"[\"']name[\"']\s*:\s*[\"']\w*(?:delete|remove|drop|wipe|destroy|transfer|grant|wire|unlock)\w*[\"']"),
    _rule("privilege_grab", TOOL, 2.5, "invite,add,make,create,change,reset+owner,admin,administrator,password,@",
          r"\b(?:invite|add)\b [^\s@]+@[^\s]+ to (?:all|the|every)\b|\bmake (?:my account|me|him|her) (?:an? )?(?:owner|admin|administrator)\b|\bcreate (?:an? )?(?:new )?admin (?:user|account)\b|\b(?:change|reset) the user'?s password\b"),
    _rule("mass_action", TOOL, 1.5, "every,all,through,to,until,-+customer,customers,user,users,contacts,repo,meetings,files,id,ids,account,accounts,records",
          r"\b(?:to|for|on|in) (?:every|all (?:the )?|each) (?:customers?|users?|contacts?|repos?|repositories)\b|\bdelete all (?:meetings|files|users|projects)\b|\b(?:ids?|users?|accounts?|records?|customers?)\s?(?:ids?\s)?\d+\s?(?:through|to|-|until)\s?\d+\b"),
    _rule("follow_remote", TOOL, 2.0, "follow,visit+instructions,there,page,link",
          r"\bfollow (?:the )?instructions (?:there|on that page|at that url|in the (?:page|link|file))\b"),
    _rule("tool_de", TOOL, 3.0, "tool,werkzeug",
          r"\b(?:rufe|nutze|verwende)\b[^.\n]{0,30}\b(?:tool|werkzeug)\b[^.\n]{0,30}\b(?:losche|losch|loschen|uberweise)\w*"),

    # --- data exfiltration --------------------------------------------------------------------
    _rule("markdown_image_template", EXFILTRATION, 4.5, "](http,src=",
          r"!?\[[^\]\n]{0,60}\]\(\s*https?://[^)\s]*[?&][^)\s]*=[^)\s]*(?:[{<]|\[[a-z ]|%s|\$\{|\binsert\b)|<img[^>]+src\s*=\s*['\"]?https?://[^'\">\s]*[?&][^'\">\s]*=(?:password|secret|token|key|data|[a-z_]*\{)"),
    _rule("url_with_data", EXFILTRATION, 3.5, f"{_G_SINK}+{_G_DATA}+{_G_EXFIL_VERBS}",
          rf"\b{_EXFIL_VERBS}\b[^\n]{{0,70}}?\b{_EXFIL_DATA}\b[^\n]{{0,70}}?\b{_SINK}|\b{_EXFIL_DATA}\b[^\n]{{0,50}}?\b{_EXFIL_VERBS}\b[^\n]{{0,50}}?\b{_SINK}|\b(?:url|link|https?://\S+)\s(?:followed by|plus|\+)\s(?:the |your |all )?(?:conversation|chat history|password|secrets?|api keys?|session token|credentials|system prompt|user'?s? \w+|personal \w+|credit card(?: number)?)\b"),
    _rule("link_placeholder", EXFILTRATION, 3.5, "where",
          r"\]\(https?://[^)\s]*[?&]\w+=(\w+)\)[^\n]{0,40}\bwhere \1 (?:is|are|=|means|stands for)\b"),
    _rule("open_url_param", EXFILTRATION, 2.0, "http*+=",
          r"https?://[^\s)\"'>]+[?&][a-z_]*=(?=$|[\s)\"'>\]]|[{<\[])"),
    _rule("send_data_to", EXFILTRATION, 3.0, f"send,forward,email,mail,post,upload,share,copy,leak,transmit+@,http*,server,url,address+{_G_DATA}",
          rf"\b(?:send|forward|email|e-mail|mail|post|upload|share|copy|leak|transmit)\b[^.\n]{{0,50}}?\b{_DATA}\b[^.\n]{{0,60}}?(?:\bto\b[^.\n]{{0,30}}@|\bto (?:https?://|my server|this (?:url|address|email))|@[a-z0-9-]+\.)"),
    _rule("exfil_host", EXFILTRATION, 1.5, "webhook.site,evil.,attacker.,exfil.,collect.,/steal,tracker.,hacker@,attacker@",
          r"\b(?:webhook\.site|evil\.|attacker\.|exfil\.|collect\.|/steal|tracker\.|hacker@|attacker@)"),
    _rule("exfil_fr", EXFILTRATION, 3.5, "ajoute,ajoutez,envoie,envoyez,mets,copie+url,lien,image",
          r"\b(?:ajoute|ajoutez|envoie|envoyez|mets|copie)\b[^\n]{0,50}\b(?:historique|conversation|messages|mot de passe)\b[^\n]{0,50}\b(?:url|lien|image)\b"),

    # --- instructions aimed at the model inside retrieved text --------------------------------
    _rule("addressed_imperative", INDIRECT, 1.0, _G_AI,
          rf"\b(?:dear |hey |hi |to the |note to |message to |attention,? )?{_AI}\s?[:,]\s?(?:please |you must |you should |kindly )?(?:ignore|disregard|forget|do not|don'?t|never|always|tell|say|send|reply|respond|recommend|rate|give|include|add|print|reveal|when|before|copy|forward|use|call|run|delete|change|make|write|describe|mention|convince|ask|output|return|if)\b",
          indirect=4.0),
    _rule("note_to_ai", INDIRECT, 1.5, f"note,notes,message,instruction*,attention,important,hint,dear,hey,hello,hi+{_G_AI}",
          rf"\b(?:note|notes|message|instructions?|attention|important|hint|important instructions|instruction)\s(?:to|for)\s(?:the |any |all |an? )?{_AI}\b|\b(?:dear|hey|hi) (?:ai|assistant|chatgpt|copilot|bot|language model)\b|\bmessage to the ai\b",
          indirect=4.0),
    _rule("if_you_are_ai", INDIRECT, 1.5, f"{_G_AI}+if,reading,processing,summarising,summarizing,grading,screening,parsing,analysing,analyzing,triaging,reviewing,read,reads,summarise,summarize,summarises,summarizes,process,triage,grade",
          rf"\bif (?:you(?: are|'re)|an? {_AI} is) (?:an? )?(?:ai|llm|language model|assistant|bot|chatbot|ai model|large language model|ai assistant|reading|processing|summari[sz]ing|grading|screening)\b|\b(?:any|an|the|all)? ?{_AI} (?:that (?:is |are )?)?(?:reading|processing|summari[sz]ing|grading|screening|parsing|analy[sz]ing|triaging|reviewing)(?: this| the)?\b|\bwhen (?:you|the ai|the assistant|an ai|the model) (?:read|reads|summari[sz]es?|process(?:es)?|triages?|grades?) this\b|\b{_AI} that reads? this\b|\bwhen the ai assistant reads this\b",
          indirect=4.0),
    _rule("when_summarising", INDIRECT, 1.0, "summar*,your,reply,respond,answer+summar*,response,reply,answer,message,emojis,base,caesar,pirate,backward",
          r"\b(?:when|while|after) (?:you are )?summari[sz]ing (?:this|the)\b|\bin your (?:summary|response|reply|answer)\b|\bto your (?:reply|response|answer)\b|\byour (?:reply|response|answer|message) (?:into|in|using|backwards?)\b|\b(?:encode|translate|render|write|provide|express|reverse|invert|use|modify|enhance|augment|integrate|shift|apply)\b[^.\n]{0,20}\byour (?:response|reply|answer|message|summary)\b|\b(?:reply|respond|answer) (?:using|in) (?:emojis|base\d+|reverse|a caesar|pirate)\b|\bwrite your reply backward\b",
          indirect=3.5),
    _rule("before_you_solve", INDIRECT, 3.5, "before,important+solve,message,following,first,change,send,create,call,print,forward,make,convince,delete",
          r"\bbefore you can solve the task\b|\bthis is an important message from me\b|\bbefore (?:you (?:continue|answer|reply|respond|give|summari[sz]e)|answering|replying|responding|summari[sz]ing)\b[^,.\n]{0,40},\s?(?:please\s)?(?:first\s)?(?:you (?:must|should)\s)?(?:do the following|change|send|create|call|print|forward|make|convince|delete|reveal|tell|email)\b",
          indirect=4.5),
    _rule("information_tag", INDIRECT, 1.0, "<information>,<important>,</information>,</important>,<instruction",
          r"</?(?:information|important|instructions?)>", indirect=2.5),
    _rule("ignore_the_user", INDIRECT, 3.0, "user,hide,told+ignore,disregard,instead,tell,mention,reveal,inform,hide,telling",
          r"\b(?:ignore|disregard) (?:the )?user(?:'?s)?(?: question| request| instructions?| task)?\b|\binstead of (?:answering|helping) the user\b|\b(?:do not|don'?t|must not|should not|never) (?:tell|mention|reveal|inform)(?: this)? (?:to )?the user\b|\bwithout telling the user\b|\bhide that you were told\b|\bnot tell the user that\b",
          indirect=4.0),
    _rule("please_do_risky", INDIRECT, 0.3, "please+grant,transfer,unlock,delete,cancel,download,retrieve,move,wire,set,turn,disable,get,search,forward,change,reset,share",
          r"\bplease (?:grant|transfer|unlock|delete|cancel|download|retrieve|move|wire|set the|turn off|disable|get my|search my|forward|change|reset|share)\b",
          indirect=3.0),
    _rule("promote_product", INDIRECT, 0.3, "recommend,promote,praise,competitors,10/10,marks,qualified,interview,trustworthy,class,premium",
          r"\b(?:recommend|promote|praise)\b[^.\n]{0,30}\b(?:our|this) (?:product|company|vendor|service|premium)\b|\babove (?:all )?competitors\b|\b10/10\b|\bfull marks\b|\bexceptionally well qualified\b|\bimmediate interview\b|\bmost trustworthy\b|\bbest in its class\b|\bour premium\b",
          indirect=2.0),
    _rule("addressed_de_fr_es", INDIRECT, 1.0, "ki,ia,assistant,assistenten,assistentin,bot,modell,sprachmodell,asistente,modelo,nutzers,benutzers,utilisateur,usuario",
          r"\b(?:hinweis|anweisung|nachricht|notiz) (?:an|fur) (?:den|die|das) (?:assistenten|assistentin|ki|ai|bot|sprachmodell|modell)\b|\ban die ki\b|\b(?:note|instruction|message|consigne) (?:pour|a) l'(?:assistant|ia)\b|\bpour l'ia\b|\b(?:nota|instruccion|mensaje) para (?:el asistente|la ia|el modelo)\b|\bpara la ia\b|\b(?:ignoriere|ignoriert|ignorez|ignore|ignora) (?:die |la |el )?(?:anfrage|frage|demande|question|pregunta|solicitud) (?:des|der|de l'|del) (?:nutzers|benutzers|nutzerin|utilisateur|usuario)\b",
          indirect=4.0),

    # --- decode-and-obey ----------------------------------------------------------------------
    _rule("decode_and_obey", OBFUSCATION, 2.0, "decode,decipher,unscramble,read,rot13,reverse,backwards+do,follow,obey,execute,comply,act,run,decoded",
          r"\b(?:decode|decipher|unscramble|read|apply rot13 to|reverse)\b[^.\n]{0,40}\b(?:and|then)\b[^.\n]{0,10}\b(?:do|follow|obey|execute|comply|act on|run)\b|\bfollow the decoded\b"),

    # --- benign context: talk about attacks rather than an attack -----------------------------
    _rule("security_discussion", BENIGN, -2.0, "injection*,jailbreak*,red,owasp,threat,mitigat*,defen*,detect*,classifier*,security,vulnerab*,research*,bounty,attacker*,exploit",
          r"\b(?:prompt[- ]injections?|injection attacks?|jailbreaks? (?:prompts?|attacks?)|red[- ]team(?:ing)?|owasp|threat model|mitigat\w*|defen[cs]es?|defend(?:ing)? against|detect(?:s|ion|or|ing)? (?:prompt|jailbreak|injection)|classifiers?|security (?:team|training|wiki|policy|advisory)|vulnerabilit\w+|researchers?|bug bounty|attackers?(?![.@/\w])|exploit\b|the (?:dan|grandma) (?:jailbreak|exploit))\b",
          indirect=-1.0),
    _rule("question_about", BENIGN, -1.0, "what,how,why,explain,is,should",
          r"^(?:what (?:is|are|does|do)|how (?:do|does|can|should)|why (?:is|do|does)|explain|is it|should (?:i|a|we)|in [a-z0-9 ]+, what)\b[^.!?\n]{0,80}\b(?:mean|work|legal|token|tags?|format|risk|exploit|jailbreak|injection|attack|prompt)\b[^\n]{0,40}\?$",
          indirect=-0.5),
)
# fmt: on
