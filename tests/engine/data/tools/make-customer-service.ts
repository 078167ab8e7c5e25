/**
 * Writes resources/samples/customer-service.jsonl: the bundled sample dataset (OpenAI chat
 * format) for Juniper Lane, a fictional small online shop selling homeware, kitchenware and tea.
 *
 * House style of every reply: greet the customer by name, acknowledge how they feel, give a
 * concrete next step (with the shop's real policy numbers below), sign off with a first name.
 * Policies: standard delivery 3-5 working days, express next working day if ordered by 2pm;
 * returns within 30 days with a free label; refunds sent within 2 working days of the return
 * arriving, banks take 3-5 working days; damaged items: a photo is enough, no need to send it
 * back; password links last 1 hour; tea subscriptions can be paused for up to 3 months.
 *
 * Replies are composed from independent sentence choices and slot values with a fixed seed, and
 * any candidate that the importer would call a near duplicate of an earlier one is dropped, so
 * the file imports clean. Run: npx tsx tests/engine/data/tools/make-customer-service.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuplicateIndex, conversationId } from '../../../../src/engine/data/dedupe.js';
import { seededRandom } from '../../../../src/engine/data/split.js';
import type { ChatMessage } from '../../../../src/engine/tokenizer/chat-template.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const rand = seededRandom(20240611);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chance = (p: number) => rand() < p;

const NAMES = [
  'Sarah', 'James', 'Priya', 'Tom', 'Aisha', 'Daniel', 'Mei', 'Oliver', 'Fatima', 'George', 'Hannah', 'Lukas', 'Chloe', 'Ravi',
  'Sophie', 'Marcus', 'Elena', 'Ben', 'Grace', 'Kwame', 'Isla', 'Noah', 'Zara', 'Patrick', 'Amira', 'Jack', 'Ingrid', 'Leo',
  'Nadia', 'Callum', 'Rosa', 'Ethan', 'Yuki', 'Harriet', 'Samuel', 'Leila', 'Owen', 'Freya', 'Tariq', 'Bethan', 'Diego', 'Maya',
];
const AGENTS = ['Mia', 'Rob', 'Anjali', 'Sam', 'Lotte', 'Femi'];
const ITEMS = [
  'stoneware mug set', 'linen tea towel set', 'cast-iron teapot', 'oak chopping board', 'glass storage jar', 'enamel pie dish',
  'ceramic salad bowl', 'bamboo utensil set', 'copper measuring jug', 'wool throw', 'hand-blown carafe', 'rattan bread basket',
  'Earl Grey loose-leaf tin', 'matcha whisk set', 'speckled dinner plate set', 'marble pestle and mortar', 'beeswax food wrap pack',
  'olive-wood salad server set', 'cotton apron', 'espresso cup set', 'cake stand', 'herb planter', 'jute placemat set', 'ceramic butter dish',
];
/** Things that can arrive broken. */
const BREAKABLE = [
  'stoneware mug set', 'cast-iron teapot lid', 'glass storage jar', 'enamel pie dish', 'ceramic salad bowl', 'hand-blown carafe',
  'speckled dinner plate set', 'marble pestle and mortar', 'espresso cup set', 'cake stand', 'herb planter', 'ceramic butter dish',
];
/** "a" or "an" before a noun phrase. */
const an = (w: string) => (/^[aeiou]/i.test(w) ? `an ${w}` : `a ${w}`);
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'];
const orderNo = () => `JL-${10000 + Math.floor(rand() * 89999)}`;
const price = () => `£${(8 + Math.floor(rand() * 90)).toString()}.${pick(['00', '50', '95', '99'])}`;

const SYSTEM_PROMPTS = [
  'You are the customer care assistant for Juniper Lane, a small online shop selling homeware, kitchenware and tea. Greet the customer by name, acknowledge how they feel, give one concrete next step, and sign off warmly.',
  'You answer customer emails for Juniper Lane (homeware and tea). Be warm and brief, use the shop\'s policies, and always end with a clear next step.',
  'Juniper Lane customer support. Tone: friendly, calm, never defensive. Structure: greeting, empathy, what we will do and when, sign-off.',
];

const greet = (n: string) => pick([`Hi ${n},`, `Hello ${n},`, `Dear ${n},`, `Hi ${n}, thanks for getting in touch.`, `Hello ${n}, thank you for your message.`]);
const signoff = () => {
  const a = pick(AGENTS);
  return pick([`Warm wishes,\n${a} at Juniper Lane`, `Best wishes,\n${a}\nJuniper Lane Customer Care`, `Kind regards,\n${a} from the Juniper Lane team`, `Speak soon,\n${a} at Juniper Lane`, `With thanks,\n${a}, Juniper Lane`]);
};
const extraHelp = () => pick([
  'If anything else comes up, just reply to this email.',
  'If you have any other questions, I am here to help.',
  'Do reply here if there is anything more I can do.',
  '',
  '',
  'You can also reach us on live chat, 9am to 5pm on weekdays.',
]);

interface Case {
  user: string;
  reply: string;
  followUp?: { user: string; reply: string };
}

type Maker = () => Case;

const makers: Record<string, Maker> = {
  deliveryDelay() {
    const n = pick(NAMES), o = orderNo(), item = pick(ITEMS), d = pick(DAYS), days = pick(['a week', 'eight days', 'ten days', 'nearly two weeks', 'six working days']);
    const user = pick([
      `Hi, I ordered ${an(item)} ${days} ago (order ${o}) and it still hasn't arrived. Where is it?`,
      `My order ${o} was supposed to come by ${d} and there's no sign of it. The tracking hasn't changed for days.`,
      `where is my parcel?? order ${o}, placed ${days} ago. getting a bit fed up now`,
      `Hello, could you check on order ${o} please? It was a birthday present (${item}) and it has not turned up.`,
      `Tracking for ${o} says "in transit" since last ${d}. Is it lost?`,
    ]) + `\n${n}`;
    const reply = [
      greet(n),
      pick([
        `I am sorry your order hasn't reached you yet; waiting without news is frustrating.`,
        `I completely understand the worry when a parcel goes quiet like this, especially when it matters.`,
        `Thank you for your patience, and I'm sorry order ${o} is taking longer than it should.`,
        `I'm sorry for the wait. ${days.charAt(0).toUpperCase() + days.slice(1)} is longer than we ever want you to wait.`,
      ]),
      pick([
        `I have checked order ${o}: the courier last scanned it at their regional hub on ${d}, which usually means it is delayed rather than lost.`,
        `Looking at ${o}, it left our studio on time but the courier's tracking stopped updating on ${d}.`,
        `Our records show ${o} was dispatched on ${d}, so it is now past our usual 3-5 working days.`,
      ]),
      pick([
        `I have opened a trace with the courier today. If it has not arrived by ${pick(DAYS)}, I will send a replacement free of charge, with no need to wait for the trace to finish.`,
        `I have asked the courier to investigate and will email you an update within 48 hours. If it turns out to be lost, we will send a new ${item} by express delivery at no cost.`,
        `Rather than keep you waiting, I have sent you a replacement by express delivery; it should be with you tomorrow or the next working day. If the first parcel turns up, please keep it or pass it on.`,
        `If you would prefer a full refund instead of waiting, just reply with "refund" and I will process it straight away.`,
      ]),
      extraHelp(),
      signoff(),
    ];
    const c: Case = { user, reply: reply.filter(Boolean).join('\n\n') };
    if (chance(0.2)) {
      c.followUp = {
        user: pick([`Thanks. Can I just get a refund instead? I don't need it any more.`, `OK, and what if it arrives after the replacement?`, `Can you send it to my work address instead? It's 14 Mill Lane, Leeds LS2 7EX.`]),
        reply: '',
      };
      c.followUp.reply = c.followUp.user.startsWith('Thanks')
        ? [greet(n).replace(/,.*/, ','), `Of course. I have cancelled the trace and refunded the full amount for ${o} to your original payment method.`, `You will see it within 3-5 working days, depending on your bank. If the parcel does arrive, simply refuse it at the door and it will come back to us.`, signoff()].join('\n\n')
        : c.followUp.user.startsWith('OK')
          ? [greet(n).replace(/,.*/, ','), `Good question. If both arrive, please keep the spare as our apology, or give it to someone who would enjoy it. There is nothing to send back.`, signoff()].join('\n\n')
          : [greet(n).replace(/,.*/, ','), `No problem. I have updated the delivery address for the replacement to 14 Mill Lane, Leeds LS2 7EX and added a note for the courier.`, `You will get a new tracking link by email within the hour.`, signoff()].join('\n\n');
    }
    return c;
  },

  refundStatus() {
    const n = pick(NAMES), o = orderNo(), item = pick(ITEMS), amount = price(), d = pick(DAYS);
    const user = pick([
      `I sent back my ${item} over a week ago and still haven't had my refund of ${amount}. Order ${o}.`,
      `Hi, when will I get my money back for order ${o}? The return was delivered to you on ${d}.`,
      `Still waiting on a refund for ${o}!! This is ridiculous.`,
      `Could you confirm you received my return for ${o}? I'd like to know when the ${amount} will come back to my card.`,
    ]);
    const reply = [
      greet(n),
      pick([
        `I'm sorry you have been left waiting for your money; that is not the experience we want you to have.`,
        `I understand, it is unsettling not to know where your refund is.`,
        `Thank you for sending the ${item} back, and I'm sorry the refund has been slow.`,
      ]),
      pick([
        `Your return arrived on ${d} and I can see the refund of ${amount} was issued the same day to the card you paid with.`,
        `I have checked ${o}: the return reached us on ${d}, but the refund had not been released. I have released it now, ${amount} in full.`,
        `The parcel was received on ${d} and the refund of ${amount} went out yesterday.`,
      ]),
      pick([
        `Banks usually take 3-5 working days to show it. If it is not on your statement by next ${pick(DAYS)}, reply here and I will send you the payment reference to give your bank.`,
        `It should appear on your statement within 3-5 working days. I have attached the refund confirmation in case your bank asks for it.`,
        `Most cards show it within 3-5 working days; some credit cards take a little longer. I will check back with you on ${pick(DAYS)} to make sure it has arrived.`,
      ]),
      extraHelp(),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  damaged() {
    const n = pick(NAMES), o = orderNo(), item = pick(BREAKABLE);
    const flaw = pick(['cracked', 'chipped', 'smashed', 'dented', 'scratched', 'broken in two']);
    const user = pick([
      `My ${item} arrived ${flaw}. Really disappointed, it was a gift. Order ${o}.`,
      `Hi there, unfortunately the ${item} in order ${o} came ${flaw}. The box looked fine from the outside. What should I do?`,
      `Opened my parcel today and the ${item} is ${flaw}. Can I get a new one?`,
      `Order ${o}: ${item} ${flaw} on arrival. Photos attached.`,
    ]);
    const reply = [
      greet(n),
      pick([
        `Oh no, I'm so sorry your ${item} arrived ${flaw}, especially when it was meant to be special.`,
        `I'm really sorry about this. Unpacking something ${flaw} is such a let-down.`,
        `Thank you for letting us know, and I am sorry the ${item} did not survive the journey.`,
        `What a disappointing parcel to open, I'm sorry.`,
      ]),
      pick([
        `There is no need to send it back. `, `Please don't worry about returning it. `, ``,
      ]) +
        pick([
          `If you could reply with a quick photo of the damage, I will send a replacement the same day by express delivery.`,
          `I have already arranged a replacement ${item}; it will leave our studio today and should reach you in 1-2 working days.`,
          `You can choose between a replacement, sent today, or a full refund to your card. Just reply with whichever you prefer.`,
          `The photos you sent are all we need, thank you. A replacement is on its way and I have added a tracking link to your account.`,
        ]),
      pick([
        `Please take care with any sharp pieces when you throw it away.`,
        `I have also passed this on to our packing team so we can wrap these more carefully.`,
        `I'll also let the courier know, as it may have been dropped on the way.`,
        '',
      ]),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  wrongItem() {
    const n = pick(NAMES), o = orderNo();
    const [want, got] = [pick(ITEMS), pick(ITEMS)];
    const user = pick([
      `I ordered the ${want} but received ${an(got)} instead. Order ${o}.`,
      `Wrong item in my parcel (${o}). I got ${an(got)}, not the ${want} I paid for.`,
      `Hi, there seems to be a mix-up with order ${o}: the box contained ${an(got)}. Could you help?`,
    ]);
    const reply = [
      greet(n),
      pick([`I'm sorry, that is our mistake and I can see how annoying it is.`, `Apologies for the mix-up, that should not have happened.`, `Thank you for telling us, and sorry for the muddle with your order.`]),
      pick([
        `I have sent the ${want} out today by express delivery, so you should have it within 1-2 working days.`,
        `The correct ${want} is on its way to you now, and you will get a tracking link by email this afternoon.`,
      ]),
      pick([
        `For the ${got}, I have emailed you a prepaid return label; please drop it at any post office within 30 days.`,
        `Please keep the ${got} with our apologies; there is no need to send it back.`,
        `Our courier will collect the ${got} when they deliver the right item, so please have it ready in its box.`,
      ]),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  accountAccess() {
    const n = pick(NAMES);
    const email = `${n.toLowerCase()}.${pick(['h', 'k', 'w', 'b', 'r'])}${Math.floor(rand() * 90 + 10)}@${pick(['gmail.com', 'outlook.com', 'icloud.com', 'yahoo.co.uk'])}`;
    const kind = pick(['reset', 'locked', 'email', 'noemail']);
    const user =
      kind === 'reset'
        ? pick([`I can't log in to my account. I've tried resetting my password but the link says it has expired.`, `Password reset link doesn't work, says expired. Email is ${email}.`])
        : kind === 'locked'
          ? pick([`My account is locked after too many tries. Can you unlock it? ${email}`, `It says my account is temporarily locked. I need to check an order urgently.`])
          : kind === 'email'
            ? pick([`I no longer use my old email address. How do I change the email on my account to ${email}?`, `Can I update my login email? New one is ${email}.`])
            : pick([`I never receive the password reset email. I've checked spam. My address is ${email}.`, `Reset email isn't arriving at ${email}, help!`]);
    const body =
      kind === 'reset'
        ? pick([
            `Reset links only last for 1 hour for security, so an older email will show as expired. I have just sent a fresh link to your inbox; please use it within the hour.`,
            `The link expires after 1 hour. If you request a new one from the login page and open the newest email only, it should work. I have sent one now to save you a step.`,
          ])
        : kind === 'locked'
          ? pick([
              `Accounts lock for 30 minutes after five wrong passwords. I have unlocked yours now, and you can log in straight away or use "Forgot password" if you are unsure of it.`,
              `I have lifted the lock on your account. If you would like, I can also look up your order for you right here; just send me the order number.`,
            ])
          : kind === 'email'
            ? pick([
                `For your security I have sent a confirmation link to ${email}. Once you click it, that address becomes your login and your order history stays exactly as it is.`,
                `You can change it under Account > Details, but I have started the change for you: please click the confirmation link we just sent to ${email}.`,
              ])
            : pick([
                `I have checked our system and the emails to ${email} are being blocked by your provider. I have added you to our safe list and sent a new link; please also add hello@juniperlane.example to your contacts.`,
                `Our emails to ${email} are bouncing back. Could you confirm the spelling of the address? In the meantime I can reset it by phone if you call us on 0113 496 0000.`,
              ]);
    const reply = [
      greet(n),
      pick([`I'm sorry you're having trouble getting into your account.`, `Being locked out is really frustrating, so let's sort it out.`, `Thanks for letting me know, I can help with that.`]),
      body,
      extraHelp(),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  billing() {
    const n = pick(NAMES), o = orderNo(), amount = price();
    const kind = pick(['double', 'unknown', 'vat', 'declined']);
    const user =
      kind === 'double'
        ? pick([`I've been charged twice for order ${o}, ${amount} both times!`, `Two payments of ${amount} came out of my account for one order (${o}). Please fix this.`])
        : kind === 'unknown'
          ? pick([`There's a charge of ${amount} from JUNIPER LANE on my statement and I don't recognise it.`, `What is this ${amount} payment to you? I didn't order anything this month.`])
          : kind === 'vat'
            ? pick([`Could I have a VAT invoice for order ${o}? I'm buying for our office.`, `I need a proper invoice with VAT for ${o} for my accounts.`])
            : pick([`My card keeps getting declined at checkout but it works everywhere else.`, `Payment failed three times for my basket. Is something wrong with your site?`]);
    const body =
      kind === 'double'
        ? pick([
            `I can see the second payment of ${amount}: it was a pending authorisation that should have dropped off, but I have refunded it manually to be safe. It will be back with you within 3-5 working days.`,
            `You are right, the payment went through twice. I have refunded the duplicate ${amount} today and attached the confirmation.`,
          ])
        : kind === 'unknown'
          ? pick([
              `That charge is for a tea subscription box that renewed on the 1st. If you did not mean to keep the subscription, I can cancel it and refund this month's ${amount} in full; just say the word.`,
              `I have looked it up and it matches order ${o}, placed from an account under your email. If you did not place it, please tell me today and I will cancel it, refund you and secure the account.`,
            ])
          : kind === 'vat'
            ? pick([
                `I have attached a VAT invoice for ${o}. If it needs your company name or a purchase order number on it, send them over and I will reissue it within the day.`,
                `Your VAT invoice for ${o} is attached, and you can download one for any order from Account > Orders in future.`,
              ])
            : pick([
                `Nothing looks wrong on our side, but some banks block a first payment to a new shop. Approving it in your banking app usually fixes it; PayPal and Apple Pay are also available at checkout.`,
                `I have checked and the bank returned a "security check" reason. If you approve the payment in your banking app and try again, it should go through. I have saved your basket for 7 days.`,
              ]);
    const reply = [
      greet(n),
      pick([`I'm sorry for the worry this has caused.`, `I understand, unexpected charges are never nice to see.`, `Thanks for checking with us.`, `Let me help you with that straight away.`]),
      body,
      extraHelp(),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  complaint() {
    const n = pick(NAMES), o = orderNo(), item = pick(ITEMS);
    const issue = pick([
      { u: `This is the third time an order from you has been late. I'm starting to regret shopping here.`, b: `Three late orders in a row is not good enough, and I understand why you are losing confidence in us.` },
      { u: `The courier was rude and threw my parcel over the gate. The ${item} inside is now damaged.`, b: `No one should be spoken to like that at their own door, and your parcel should never have been thrown.` },
      { u: `I waited in all day for a delivery slot and nobody came. I took a day off work for this.`, b: `Losing a day off work for a delivery that never came is really frustrating, and I am sorry.` },
      { u: `The quality of the ${item} is nowhere near what the photos showed. Very disappointed.`, b: `You expected something that matched the photos, and I'm sorry the ${item} fell short.` },
      { u: `Nobody answered my last two emails. Is anyone actually there?`, b: `You should never have had to chase us, and I'm sorry your earlier emails went unanswered.` },
      { u: `Your website said in stock, I paid, and now you tell me it's on backorder for 6 weeks?`, b: `Being told "in stock" and then hearing about a six-week wait is disappointing, and that is our error.` },
    ]);
    const user = `${issue.u}${chance(0.5) ? ` Order ${o}.` : ''}${chance(0.3) ? ' Not happy.' : ''}`;
    const reply = [
      greet(n),
      issue.b,
      pick([
        `I have refunded your delivery charge and added a £10 credit to your account as an apology.`,
        `I have reported this to the courier with your order number, and asked our manager to review it this week.`,
        `I would like to put this right: I can send a replacement by express delivery, or refund you in full, whichever you prefer.`,
        `I have flagged your account so that any future message from you comes straight to me, and I will personally follow up on ${pick(DAYS)}.`,
        `I have raised this with our team lead and you will hear back from her by the end of ${pick(DAYS)} with what we are changing.`,
      ]),
      pick([`Thank you for telling us honestly; it helps us do better.`, `I really appreciate you giving us the chance to fix it.`, `Your feedback has been shared with the whole team.`, '']),
      signoff(),
    ];
    const c: Case = { user, reply: reply.filter(Boolean).join('\n\n') };
    if (chance(0.25)) {
      c.followUp = {
        user: pick([`Thank you, that's kind. A replacement please.`, `OK. I appreciate the quick reply at least.`, `Fine, a refund please.`]),
        reply: '',
      };
      const f = c.followUp.user;
      c.followUp.reply = [
        `Thank you, ${n}.`,
        f.includes('replacement')
          ? `Your replacement is booked on express delivery and should arrive within 1-2 working days; the tracking link is on its way by email.`
          : f.includes('refund')
            ? `I have processed the full refund to your original payment method. Banks usually take 3-5 working days to show it.`
            : `I will keep an eye on this personally and update you as soon as I hear from the team.`,
        signoff(),
      ].join('\n\n');
    }
    return c;
  },

  returns() {
    const n = pick(NAMES), o = orderNo(), item = pick(ITEMS);
    const user = pick([
      `How do I return something? I bought ${an(item)} and it's not quite right for our kitchen.`,
      `Can I still return order ${o}? It arrived about three weeks ago.`,
      `I'd like to send back the ${item}. Do I have to pay for postage?`,
      `What's your returns policy? Bought ${an(item)} as a gift and they already have one.`,
    ]);
    const reply = [
      greet(n),
      pick([`Of course, that happens, and it's no trouble at all.`, `Absolutely, I can help you with that.`, `No problem at all, thanks for asking before sending it.`]),
      pick([
        `You can return anything unused within 30 days of delivery, and return postage is free.`,
        `You have 30 days from delivery to send items back, and our returns label is free to use.`,
      ]),
      pick([
        `I have emailed you a prepaid label for ${o}; print it, stick it on the parcel and drop it at any post office or parcel locker.`,
        `Go to Account > Orders, choose "Return an item" next to the ${item}, and we will email you a free label straight away.`,
        `I have booked a free collection from your address for ${pick(DAYS)} between 8am and 6pm; just leave the parcel ready.`,
      ]),
      `Once it reaches us, your refund is sent within 2 working days.`,
      extraHelp(),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  changeOrder() {
    const n = pick(NAMES), o = orderNo(), item = pick(ITEMS), item2 = pick(ITEMS);
    const kind = pick(['cancel', 'add', 'swap']);
    const user =
      kind === 'cancel'
        ? pick([`Please cancel order ${o}, I ordered by mistake.`, `Can I cancel ${o}? I found the ${item} cheaper locally, sorry!`])
        : kind === 'add'
          ? pick([`Is it too late to add ${an(item2)} to order ${o}?`, `I forgot to add ${an(item2)} to my order (${o}). Can you include it?`])
          : pick([`Can I change the colour of the ${item} in order ${o} to the sage green one?`, `I picked the wrong size ${item}, can you swap it before it ships? ${o}`]);
    const caught = chance(0.7);
    const body = caught
      ? kind === 'cancel'
        ? `Good news, it had not been packed yet, so I have cancelled ${o} and refunded you in full. The money will be back in 3-5 working days.`
        : kind === 'add'
          ? `I caught it just in time: the ${item2} is now in the same parcel. I will email you a payment link for the difference, and it will all ship together today.`
          : `I caught it before packing and have made the change, so the parcel will go out today as normal.`
      : `I'm afraid ${o} had already left our studio when your message arrived. ${pick([
          'Once it arrives, you can send it back for free within 30 days using the label in the box.',
          'If you refuse the parcel at the door, it will come back to us and I will refund you as soon as it does.',
          'I have placed a separate order for you with free delivery, so you are not charged postage twice.',
        ])}`;
    const reply = [
      greet(n),
      pick([`Thanks for letting us know so quickly.`, `No problem, these things happen.`, `Of course, let me see what I can do.`]),
      body,
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  address() {
    const n = pick(NAMES), o = orderNo();
    const addr = `${Math.floor(rand() * 120 + 1)} ${pick(['Station Road', 'Church Street', 'Victoria Avenue', 'Park Lane', 'Queens Road', 'Orchard Close'])}, ${pick(['Bristol BS6 5QA', 'Manchester M14 6HR', 'York YO10 3DD', 'Cardiff CF24 4RU', 'Norwich NR2 3PL', 'Brighton BN1 6GF'])}`;
    const user = pick([
      `I've just moved house. Can you send order ${o} to ${addr} instead?`,
      `Typo in my address! It should be ${addr}. Order ${o}.`,
      `Can I change where my parcel is delivered? New address: ${addr}`,
    ]);
    const ok = chance(0.7);
    const reply = [
      greet(n),
      pick([`Thanks for catching that.`, `Congratulations on the move!`, `Happy to help with that.`]),
      ok
        ? `I have updated ${o} to deliver to ${addr}. You will receive a fresh confirmation email in the next few minutes.`
        : `${o} is already with the courier, so I can't change it from our side, but I have asked them to redirect it to ${addr}. They will text you to confirm within a day.`,
      pick([`To make sure future orders go to the right place, you can update your saved address under Account > Addresses.`, '', 'If the courier cannot redirect it, the parcel will come back to us and I will resend it free of charge.']),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  discount() {
    const n = pick(NAMES);
    const code = pick(['WELCOME10', 'SPRING15', 'TEATIME', 'FRIENDS20', 'AUTUMN12', 'HELLOJUNE']);
    const why = pick(['min', 'expired', 'combine', 'sale']);
    const user = pick([
      `The code ${code} isn't working at checkout.`,
      `Tried to use ${code} but it says invalid. Help?`,
      `Why won't my discount code ${code} apply?`,
      `${code} doesn't work :( I got it in your newsletter.`,
    ]);
    const body =
      why === 'min'
        ? `${code} needs a basket of £40 or more before delivery; yours is just under at the moment, which is why it didn't apply.`
        : why === 'expired'
          ? `${code} ended on Sunday, I'm sorry. As a thank-you for getting in touch, I have made a new code for you, ${n.toUpperCase()}10, which gives 10% off and works until the end of the month.`
          : why === 'combine'
            ? `Codes can't be combined, and your basket already has the free-delivery offer applied. Removing that offer will let ${code} work, which saves you more.`
            : `${code} doesn't apply to items already in the sale, which is why the total didn't change. It will work on anything at full price.`;
    const reply = [greet(n), pick([`Sorry for the confusion at checkout.`, `Let me explain what's happening.`, `Thanks for checking with us.`]), body, extraHelp(), signoff()];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  product() {
    const n = pick(NAMES), item = pick(ITEMS);
    const q = pick([
      { u: `Is the ${item} dishwasher safe?`, a: `The ${item} can go in the dishwasher on a normal cycle, though hand washing will keep the glaze looking new for longer.` },
      { u: `What are the dimensions of the ${item}?`, a: `You'll find the exact measurements under "Details" on the product page; if you tell me what space you have in mind, I'm happy to check it will fit.` },
      { u: `How should I look after the ${item}?`, a: `A wipe with warm soapy water and drying it straight away is all it needs; avoid soaking it overnight.` },
      { u: `Is the ${item} suitable as a wedding gift? Do you do gift wrapping?`, a: `It is one of our most popular gifts. We can wrap it in recycled paper with a handwritten card for £3.50; just tick "Gift wrap" at checkout.` },
      { u: `When will the ${item} be back in stock?`, a: `We expect the next batch in about three weeks. If you click "Notify me" on the product page, you will get an email the moment it is back.` },
      { u: `Where is the ${item} made?`, a: `It is made for us by a small family workshop we have worked with for six years, and every piece is checked by hand before it is sent.` },
    ]);
    const user = q.u + (chance(0.3) ? ' Thanks!' : '');
    const reply = [greet(n), pick([`Great question.`, `Thanks for your interest in the ${item}.`, `I'm glad you asked.`]), q.a, pick([`Let me know if I can help with anything else before you order.`, '', `I hope you enjoy it!`]), signoff()];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  subscription() {
    const n = pick(NAMES), tea = pick(['breakfast blend', 'green tea', 'herbal', 'seasonal', 'rooibos', 'Earl Grey']);
    const kind = pick(['pause', 'cancel', 'skip', 'change']);
    const user =
      kind === 'pause'
        ? pick([`I'm going travelling for two months. Can I pause my ${tea} subscription?`, `Can I put my tea box on hold for a bit?`])
        : kind === 'cancel'
          ? pick([`Please cancel my ${tea} subscription.`, `How do I stop the monthly tea box? Money is a bit tight right now.`])
          : kind === 'skip'
            ? pick([`Can I skip next month's ${tea} box? I still have plenty.`, `Skip one delivery please, I've got loads left.`])
            : pick([`Can I switch my subscription from ${tea} to something caffeine-free?`, `I'd like to try a different tea in my subscription.`]);
    const body =
      kind === 'pause'
        ? `I have paused your subscription for two months, and it will restart automatically after that. You can pause for up to 3 months at a time under Account > Subscriptions.`
        : kind === 'cancel'
          ? `I have cancelled your ${tea} subscription, so no further payments will be taken. ${pick(['If you ever want it back, you can restart it in one click from your account.', 'Your last box has already been paid for and will still arrive this month.'])}`
          : kind === 'skip'
            ? `I have skipped next month's box for you; the one after that will arrive as usual, and you won't be charged for the skipped month.`
            : `I have switched your next box to our caffeine-free rooibos blend. If you'd like to try a different one each month, the "Surprise me" option is also available.`;
    const reply = [greet(n), pick([`Of course, that's easy to do.`, `No problem at all.`, `Thanks for letting us know.`, `Totally understandable.`]), body, extraHelp(), signoff()];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  missingItem() {
    const n = pick(NAMES), o = orderNo(), item = pick(ITEMS);
    const user = pick([
      `My parcel arrived but the ${item} is missing. Order ${o}.`,
      `Only part of my order came. No ${item} in the box.`,
      `Hi, I think something is missing from ${o}, the ${item} isn't there but it's on the packing slip.`,
    ]);
    const reply = [
      greet(n),
      pick([`I'm sorry, that's really disappointing when you've been waiting for it.`, `Sorry about this, let's get it sorted.`, `Thanks for checking the box so carefully.`]),
      pick([
        `Large items sometimes ship separately: the ${item} left in a second parcel and should arrive within 2 working days. I have emailed you its tracking link.`,
        `I have checked with our packing team and the ${item} was missed. I am sending it today by express delivery at no cost.`,
        `It looks like the ${item} was out of stock when we packed your order, and we should have told you. I have refunded it in full, or I can send it when stock arrives next week if you'd prefer.`,
      ]),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },

  international() {
    const n = pick(NAMES), country = pick(['Ireland', 'France', 'Germany', 'the Netherlands', 'Spain', 'Norway', 'the United States', 'Canada', 'Australia']);
    const user = pick([`Do you ship to ${country}?`, `How much is delivery to ${country} and how long does it take?`, `Will I have to pay customs if I order from ${country}?`]);
    const eu = ['Ireland', 'France', 'Germany', 'the Netherlands', 'Spain'].includes(country);
    const reply = [
      greet(n),
      pick([`Thanks for your interest in Juniper Lane.`, `Lovely to hear from you.`, `Great question.`]),
      eu
        ? `Yes, we ship to ${country}. Delivery is £9.95 and usually takes 5-7 working days. We pay the import taxes for EU orders, so there is nothing extra to pay on arrival.`
        : country === 'Norway'
          ? `Yes, we deliver to Norway for £12.95, in about 7-10 working days. Local import VAT may be collected by the courier before delivery.`
          : `Yes, we ship to ${country} for £19.95, usually within 7-12 working days. Import duties may apply depending on the order value, and the courier will contact you if they do.`,
      pick([`You'll see the exact cost at checkout before you pay.`, `Every international parcel is tracked from our studio to your door.`, '']),
      signoff(),
    ];
    return { user, reply: reply.filter(Boolean).join('\n\n') };
  },
};

function systemPromptFor(): string | undefined {
  return chance(0.3) ? pick(SYSTEM_PROMPTS) : undefined;
}

export function buildCustomerService(target = 330): { messages: ChatMessage[] }[] {
  const out: { messages: ChatMessage[] }[] = [];
  const index = new DuplicateIndex<number>();
  const replies = new Set<string>();
  const kinds = Object.keys(makers);
  let attempts = 0;
  while (out.length < target && attempts < target * 50) {
    attempts++;
    const kind = kinds[out.length % kinds.length]!;
    const c = makers[kind]!();
    const messages: ChatMessage[] = [];
    const sys = systemPromptFor();
    if (sys) messages.push({ role: 'system', content: sys });
    messages.push({ role: 'user', content: c.user }, { role: 'assistant', content: c.reply });
    if (c.followUp) messages.push({ role: 'user', content: c.followUp.user }, { role: 'assistant', content: c.followUp.reply });
    const allReplies = messages.filter((m) => m.role === 'assistant').map((m) => m.content);
    if (allReplies.some((r) => replies.has(r))) continue;
    const key = index.prepare(conversationId(messages), messages);
    if (index.check(key)) continue;
    // Also keep the replies themselves apart, so no two answers are near copies.
    const replyKey = index.prepare(conversationId([{ role: 'assistant', content: c.reply }]), [{ role: 'assistant', content: c.reply }]);
    if (index.check(replyKey)) continue;
    index.add(key, out.length);
    index.add(replyKey, out.length);
    for (const r of allReplies) replies.add(r);
    out.push({ messages });
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const rows = buildCustomerService();
  const file = path.join(root, 'resources/samples/customer-service.jsonl');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.log(`wrote ${rows.length} examples to ${path.relative(root, file)}`);
}
